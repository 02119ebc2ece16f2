// The instructor's session page: each candidate's time left counted down from the server's
// figure (fetched again every 30 s: extra time given elsewhere shows), and the live progress
// (checks passing now) fetched at load and every 20 s; the server keeps it a few seconds.
(function () {
  "use strict";
  // An end under way in the server: the page shows its progress by reloading itself.
  var reload = document.querySelector("[data-reload-seconds]");
  if (reload) {
    window.setTimeout(function () { window.location.reload(); }, Number(reload.dataset.reloadSeconds) * 1000);
  }
  var table = document.querySelector("table.desk");
  if (!table) { return; }
  var ends = {};
  function fmt(left) {
    var h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
    var mm = String(m).padStart(2, "0"), ss = String(s).padStart(2, "0");
    return left === 0 ? "temps écoulé" : (h ? h + " h " + mm + " min " + ss + " s" : m + " min " + ss + " s");
  }
  table.querySelectorAll("tr[data-login] [data-seconds-left]").forEach(function (el) {
    var login = el.closest("tr").dataset.login;
    ends[login] = { el: el, end: Date.now() + Number(el.dataset.secondsLeft) * 1000 };
  });
  function tick() {
    Object.keys(ends).forEach(function (login) {
      var e = ends[login];
      e.el.textContent = fmt(Math.max(0, Math.round((e.end - Date.now()) / 1000)));
    });
  }
  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; });
  }
  function resync() {
    getJSON(table.dataset.stateUrl).then(function (state) {
      if (!state) { return; }
      Object.keys(ends).forEach(function (login) {
        var c = state.candidates[login];
        if (c && typeof c.seconds_left === "number") { ends[login].end = Date.now() + c.seconds_left * 1000; }
        var row = table.querySelector('tr[data-login="' + login + '"] .access');
        if (c && row) { row.textContent = c.access; }
      });
    }).catch(function () { /* a network blip: keep counting */ });
  }
  function progress() {
    if (!table.dataset.progressUrl) { return; }
    getJSON(table.dataset.progressUrl).then(function (got) {
      if (!got) { return; }
      Object.keys(got.candidates).forEach(function (login) {
        var cell = table.querySelector('tr[data-login="' + login + '"] [data-progress]');
        if (cell) { cell.textContent = got.candidates[login].text; }
      });
    }).catch(function () { /* shown again at the next round */ });
  }
  tick();
  window.setInterval(tick, 1000);
  window.setInterval(resync, 30000);
  progress();
  window.setInterval(progress, 20000);
})();
