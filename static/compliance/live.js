/* Live scorecard: reload the numbers when a compliance event arrives for this organization,
 * over the shared websocket client (static/js/encompass-live.js: reconnect, replay of what was
 * missed, de-duplication). While the socket is not live, scorecard.json is polled every 60 s. */
(function () {
  "use strict";
  var root = document.querySelector("[data-live-scorecard]");
  if (!root || !window.EncompassLive) return;
  var org = Number(root.getAttribute("data-organization"));
  var jsonUrl = root.getAttribute("data-json-url");
  var pending = null;

  function refresh() {
    fetch(jsonUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) return;
        data.assessments.forEach(function (a) {
          var el = document.querySelector('[data-score-for="' + a.id + '"]');
          if (el && el.textContent !== a.score + "%") {
            el.textContent = a.score + "%";
            el.closest(".card").classList.add("updated");
          }
          Object.keys(a.counts).forEach(function (k) {
            var c = document.querySelector('[data-count-for="' + a.id + '-' + k + '"]');
            if (c) c.textContent = a.counts[k];
          });
        });
      })
      .catch(function () {});
  }

  function onEvent(event) {
    clearTimeout(pending);
    pending = setTimeout(function () {
      if (event.kind === "compliance.checks_ran" || event.kind === "compliance.assessment_created") {
        window.location.reload();  // failing-check lists and new cards change shape
      } else {
        refresh();
      }
    }, 300);
  }

  var live = window.EncompassLive.shared();
  live.onStatus(window.EncompassLive.indicator(document.getElementById("live-dot")));
  live.onResync(refresh);
  live.whileDown(refresh, 60000);
  live.subscribe("organization", org, onEvent, { kinds: ["compliance."] });
})();
