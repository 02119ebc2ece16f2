// The time left, counted down from the server's figure (never the browser's clock), and
// fetched again every minute so extra time given by an instructor shows.
(function () {
  "use strict";
  var el = document.getElementById("time-left");
  if (!el) { return; }
  var end = Date.now() + Number(el.dataset.secondsLeft) * 1000;
  function show() {
    var left = Math.max(0, Math.round((end - Date.now()) / 1000));
    var h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
    var mm = String(m).padStart(2, "0"), ss = String(s).padStart(2, "0");
    el.textContent = left === 0 ? "temps écoulé" : (h ? h + " h " + mm + " min " + ss + " s" : m + " min " + ss + " s");
    if (left === 0) { window.setTimeout(function () { window.location.reload(); }, 5000); return; }
    window.setTimeout(show, 1000);
  }
  function resync() {
    if (!el.dataset.stateUrl) { return; }
    fetch(el.dataset.stateUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (state) {
        if (state && typeof state.seconds_left === "number") { end = Date.now() + state.seconds_left * 1000; }
      })
      .catch(function () { /* a network blip: keep counting */ });
  }
  show();
  window.setInterval(resync, 60000);
})();
