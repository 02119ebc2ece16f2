// Practice panel: say what runs once a button is pressed (the server answers when the
// grading is done), and while a grading or reset runs, ask the server every 2 s and
// reload the page when it is over. Without JS the page reloads itself (<noscript> refresh).
(function () {
  "use strict";
  var panel = document.getElementById("pratique");
  var status = document.getElementById("practice-status");
  if (!panel || !status) { return; }
  panel.querySelectorAll("form[data-busy]").forEach(function (form) {
    form.addEventListener("submit", function () {
      status.textContent = form.dataset.busy;
      status.classList.add("busy");
      window.setTimeout(function () {  // after the submission has left
        panel.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
      }, 0);
    });
  });
  if (!panel.hasAttribute("data-practice-running")) { return; }
  function poll() {
    fetch(panel.dataset.stateUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (state) {
        if (state && state.running === null) {
          window.location.reload();
        } else {
          window.setTimeout(poll, 2000);
        }
      })
      .catch(function () { window.setTimeout(poll, 2000); });
  }
  window.setTimeout(poll, 2000);
})();
