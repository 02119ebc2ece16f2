// Self-service labs: the waiting page follows the queue and the build, then opens the lab;
// the lab page shows the idle time-to-live and its warning. The state route is polled, and
// polling does not count as activity: an unattended tab lets the lab expire.
(function () {
  "use strict";
  var box = document.getElementById("selfservice");
  if (!box) { return; }
  function text(id, value) { var el = document.getElementById(id); if (el) { el.textContent = value; } }
  function show(id, on) { var el = document.getElementById(id); if (el) { el.hidden = !on; } }
  function minutes(s) { return Math.max(0, Math.ceil(s / 60)) + " min"; }
  function update(st) {
    text("ss-phase", st.phase_fr);
    show("ss-queue", st.phase === "queued");
    text("ss-position", st.queue_position || "");
    show("ss-progress", st.phase === "building");
    text("ss-steps", st.steps_done + "/" + st.steps_total);
    text("ss-step", st.step || "");
    var bar = document.getElementById("ss-bar");
    if (bar) { bar.max = st.steps_total || 1; bar.value = st.steps_done; }
    show("ss-error", !!st.error);
    if (st.error) { text("ss-error", "La préparation a échoué : " + st.error); }
    if (st.expires_in !== null) {
      text("ss-ttl", minutes(st.expires_in));
      show("ss-warning", st.warning);
    }
    if (st.phase === "ready" && box.dataset.labUrl && !document.getElementById("ss-ttl")) {
      window.location.href = box.dataset.labUrl;
    }
  }
  function poll() {
    fetch(box.dataset.stateUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (r.status === 404) { window.location.href = "/practice"; return null; }
        return r.ok ? r.json() : null;
      })
      .then(function (st) { if (st) { update(st); } })
      .catch(function () { /* a network blip: try again at the next poll */ });
  }
  poll();
  window.setInterval(poll, Number(box.dataset.every) || 3000);
})();
