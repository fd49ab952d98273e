/* Live rollout progress over /ws/events/ (protocol: encompass/events/consumers.py).
 * A minimal client of our own (the monitoring app's reusable client did not exist when this was
 * written): subscribes to the organization scope, replays from the last event id it saw, keeps
 * rollout.* events for this rollout, and refetches the JSON progress to redraw the wave table.
 * Without a socket it polls the same JSON every 10 s. */
(function () {
  "use strict";
  function esc(s) { var d = document.createElement("div"); d.textContent = s == null ? "" : String(s); return d.innerHTML; }
  function redraw(data) {
    var status = document.getElementById("rollout-status");
    if (status) { status.textContent = data.status_label; status.className = "badge fw-" + data.status; }
    var reason = document.getElementById("rollout-reason");
    if (reason) reason.textContent = data.reason || "";
    var body = document.querySelector("#waves tbody");
    if (!body || !data.waves.length) return;
    body.innerHTML = data.waves.map(function (w) {
      return "<tr data-wave='" + w.number + "'><td>" + w.number + "</td>" +
        "<td><span class='badge fw-" + esc(w.status) + "'>" + esc(w.status) + "</span></td>" +
        "<td>" + w.planned + "</td>" +
        "<td><div class='fw-bar'><span class='ok' style='width:" + w.success_percent + "%'></span>" +
        "<span class='bad' style='width:" + w.failure_percent + "%'></span></div></td>" +
        "<td>" + w.succeeded + "</td><td>" + w.in_progress + "</td><td>" + w.pending + "</td>" +
        "<td>" + w.failed + "</td><td>" + w.cancelled + "</td></tr>";
    }).join("");
  }
  function watch(opts) {
    var table = document.getElementById("waves");
    var dot = document.getElementById("live-state");
    if (!table) return;
    var url = table.dataset.progressUrl;
    var timer = null, since = null, seen = {}, retry = 1000, poller = null;
    function refresh() {
      clearTimeout(timer);
      timer = setTimeout(function () {
        fetch(url, {credentials: "same-origin"})
          .then(function (r) { return r.ok ? r.json() : null; })
          .then(function (data) { if (data) redraw(data); });
      }, 200);
    }
    function poll() { if (!poller) poller = setInterval(refresh, 10000); }
    function connect() {
      if (!window.WebSocket) { poll(); return; }
      var proto = location.protocol === "https:" ? "wss://" : "ws://";
      var ws = new WebSocket(proto + location.host + "/ws/events/");
      function subscribe() {
        ws.send(JSON.stringify({type: "subscribe", scope: "organization", id: opts.organization, since: since}));
      }
      ws.onopen = function () { retry = 1000; subscribe(); };
      ws.onmessage = function (msg) {
        var data;
        try { data = JSON.parse(msg.data); } catch (e) { return; }
        if (data.type === "subscribed") {
          if (dot) dot.classList.add("on");
          if (poller) { clearInterval(poller); poller = null; }
          return;
        }
        if (data.type === "resync" || data.type === "replay_truncated") {
          since = data.since || data.next || since; subscribe(); refresh(); return;
        }
        if (data.type !== "event" || !data.event) return;
        var ev = data.event;
        if (seen[ev.id]) return;
        seen[ev.id] = true;
        if (!since || ev.id > since) since = ev.id;
        if (ev.kind.indexOf("rollout.") === 0 && ev.payload && ev.payload.rollout === opts.rollout) refresh();
      };
      ws.onclose = function () {
        if (dot) dot.classList.remove("on");
        poll();
        setTimeout(connect, retry);
        retry = Math.min(retry * 2, 30000);
      };
    }
    connect();
  }
  window.EncompassRollout = {watch: watch};
})();
