// The web terminal: xterm.js over the portal's WebSocket (protocol: tai_labs/portal/terminal.py).
// Keystrokes go as binary frames, resizes as JSON text; after a network blip it reconnects
// with ?since=<bytes shown> and the server replays only what was missed (same shell).
// A read-only view (data-read-only, an instructor's) types nothing and follows the owner's size.
(function () {
  "use strict";
  var FINAL = { 1008: true, 4000: true, 4001: true, 4003: true };
  // xterm.js makes <style> elements (cell size, theme); a page whose CSP allows styles by
  // nonce only gives this script that nonce: every <style> a script creates carries it.
  var nonce = document.currentScript && document.currentScript.nonce;
  if (nonce) {
    var create = document.createElement;
    document.createElement = function (tag, options) {
      var made = create.call(document, tag, options);
      if (String(tag).toLowerCase() === "style") made.nonce = nonce;
      return made;
    };
  }
  var MAX_RETRIES = 15; // about a minute of backoff, the server's grace period

  function start(el) {
    var statusEl = el.parentElement.querySelector("[data-terminal-status]");
    var readOnly = el.dataset.readOnly === "true";
    var term = new Terminal({
      cursorBlink: !readOnly, disableStdin: readOnly, scrollback: 5000, fontSize: 14
    });
    var fit = new FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open(el);
    fit.fit();
    var encoder = new TextEncoder();
    var ws = null;
    var received = 0; // output bytes of the session shown so far
    var known = false; // whether `received` counts this session's bytes
    var retries = 0;
    var ended = false;

    function status(text) {
      if (statusEl) statusEl.textContent = text;
      el.dataset.state = text;
    }
    function url() {
      var u = new URL(el.dataset.wsUrl, window.location.href);
      u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
      u.searchParams.set("cols", term.cols);
      u.searchParams.set("rows", term.rows);
      if (known) u.searchParams.set("since", received);
      return u.toString();
    }
    function send(data) {
      if (ws && ws.readyState === WebSocket.OPEN) ws.send(data);
    }
    function sendResize() {
      if (readOnly) return; // the candidate's terminal keeps the candidate's size
      send(JSON.stringify({ type: "resize", cols: term.cols, rows: term.rows }));
    }
    function connect() {
      status("connexion…");
      ws = new WebSocket(url());
      ws.binaryType = "arraybuffer";
      ws.onopen = function () {
        retries = 0;
        status("connecté");
        sendResize();
      };
      ws.onmessage = function (ev) {
        if (typeof ev.data === "string") {
          var msg = JSON.parse(ev.data);
          if (msg.type === "replay") {
            if (!known || msg.offset !== received) term.reset(); // a new screen, redrawn
            received = msg.offset;
            known = true;
            // a watcher draws at the candidate's size (when they joined), not its window's
            if (readOnly && msg.cols > 0 && msg.rows > 0) term.resize(msg.cols, msg.rows);
          } else if (msg.type === "resize") {
            // the candidate resized their window: the watcher follows, line for line
            if (readOnly && msg.cols > 0 && msg.rows > 0) term.resize(msg.cols, msg.rows);
          } else if (msg.type === "end") {
            ended = true;
            status(msg.why === "taken over" ? "ouvert dans un autre onglet"
              : msg.why === "no session" ? "aucun terminal ouvert par le candidat sur cette machine"
              : msg.why === "time over" ? "temps écoulé" : "terminé");
          }
          return;
        }
        var data = new Uint8Array(ev.data);
        received += data.length;
        term.write(data);
      };
      ws.onclose = function (ev) {
        if (ended || FINAL[ev.code] || retries >= MAX_RETRIES) {
          if (!ended) status("déconnecté");
          return;
        }
        retries += 1;
        status("reconnexion…");
        window.setTimeout(connect, Math.min(8000, 250 * Math.pow(2, retries)));
      };
    }

    term.onData(function (d) { send(encoder.encode(d)); });
    term.onBinary(function (d) {
      send(Uint8Array.from(d, function (c) { return c.charCodeAt(0); }));
    });
    term.onResize(sendResize);
    if (!readOnly) window.addEventListener("resize", function () { fit.fit(); });
    el.terminal = term; // for the page's tests and a "copy" button
    connect();
  }

  document.querySelectorAll("[data-terminal]").forEach(start);
})();
