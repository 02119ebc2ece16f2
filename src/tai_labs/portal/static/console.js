// The graphical console of a node: noVNC (vendored ES modules, static/vendor/novnc) on the
// portal's WebSocket, which relays to the node's display. The screen's data-state says
// connecting / connected / disconnected (the browser tests read it).
import RFB from "./vendor/novnc/core/rfb.js";

const screen = document.querySelector("[data-console]");
const status = document.querySelector("[data-console-status]");
const cad = document.querySelector("[data-console-cad]");
const again = document.querySelector("[data-console-reconnect]");
let rfb = null;

function show(state, text) {
  screen.dataset.state = state;
  status.textContent = text;
}

function connect() {
  const url = new URL(screen.dataset.wsUrl, window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  show("connecting", "connexion…");
  again.hidden = true;
  rfb = new RFB(screen, url.href, { wsProtocols: ["binary"] });
  rfb.scaleViewport = true;
  rfb.addEventListener("connect", () => show("connected", "connectée"));
  rfb.addEventListener("disconnect", (event) => {
    // Refused or cut by the server (machine stopped, access ended) or a network blip:
    // the candidate reconnects by hand, the server decides again.
    show("disconnected", event.detail.clean ? "déconnectée" : "console indisponible");
    rfb = null;
    again.hidden = false;
  });
}

cad.addEventListener("click", () => { if (rfb) { rfb.sendCtrlAltDel(); } });
again.addEventListener("click", connect);
connect();
