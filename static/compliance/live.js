/* Live scorecard: reload the numbers when a compliance event arrives for this organization.
 *
 * Uses the shared websocket client (window.EncompassLive, from static/monitoring/) when it is
 * on the page; otherwise a minimal client of its own for /ws/events/. Either way it also polls
 * scorecard.json every 60 s, so the page stays current without a socket too.
 */
(function () {
  "use strict";
  var root = document.querySelector("[data-live-scorecard]");
  if (!root) return;
  var org = root.getAttribute("data-organization");
  var jsonUrl = root.getAttribute("data-json-url");
  var dot = document.getElementById("live-dot");
  var lastId = 0;
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
    if (!event || typeof event.kind !== "string" || event.kind.indexOf("compliance.") !== 0) return;
    if (event.id && event.id <= lastId) return;  // already seen (replay and live overlap)
    if (event.id) lastId = event.id;
    clearTimeout(pending);
    pending = setTimeout(function () {
      if (event.kind === "compliance.checks_ran" || event.kind === "compliance.assessment_created") {
        window.location.reload();  // failing-check lists and new cards change shape
      } else {
        refresh();
      }
    }, 300);
  }

  function connectOwn() {
    var proto = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket;
    try { socket = new WebSocket(proto + window.location.host + "/ws/events/"); }
    catch (e) { return; }
    socket.onopen = function () {
      if (dot) dot.classList.add("on");
      socket.send(JSON.stringify({ type: "subscribe", scope: "organization", id: Number(org), after: lastId || undefined }));
    };
    socket.onmessage = function (msg) {
      var data;
      try { data = JSON.parse(msg.data); } catch (e) { return; }
      (data.events || [data.event || data]).forEach(onEvent);
    };
    socket.onclose = function () {
      if (dot) dot.classList.remove("on");
      setTimeout(connectOwn, 5000);
    };
  }

  if (window.EncompassLive && typeof window.EncompassLive.subscribe === "function") {
    window.EncompassLive.subscribe({ scope: "organization", id: Number(org) }, onEvent);
    if (dot) dot.classList.add("on");
  } else {
    connectOwn();
  }
  setInterval(refresh, 60000);
})();
