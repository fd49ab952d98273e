/* Live incident pages over /ws/events/ (protocol: encompass/events/consumers.py).
 * A minimal client of our own: the monitoring app's reusable client did not exist when this was
 * written. Subscribes to the organization scope, replays from the last event id it saw, and on an
 * event whose kind starts with one of `prefixes` re-fetches the page fragment (debounced). */
(function () {
  "use strict";
  function watch(opts) {
    var target = document.getElementById(opts.target);
    var dot = document.getElementById("live-state");
    if (!target || !opts.organization || !window.WebSocket) return;
    var storeKey = "incidents.lastEvent." + opts.organization;
    var since = parseInt(sessionStorage.getItem(storeKey) || "0", 10) || null;
    var seen = {};
    var timer = null;
    var retry = 1000;
    function refresh() {
      clearTimeout(timer);
      timer = setTimeout(function () {
        fetch(target.dataset.fragmentUrl, {credentials: "same-origin"})
          .then(function (r) { return r.ok ? r.text() : null; })
          .then(function (html) { if (html !== null) target.innerHTML = html; });
      }, 250);
    }
    function relevant(ev) {
      var ok = opts.prefixes.some(function (p) { return ev.kind.indexOf(p) === 0; });
      if (!ok) return false;
      if (opts.incident && ev.kind.indexOf("incident.") === 0) {
        return ev.payload && ev.payload.incident === opts.incident;
      }
      return true;
    }
    function connect() {
      var proto = location.protocol === "https:" ? "wss://" : "ws://";
      var ws = new WebSocket(proto + location.host + "/ws/events/");
      ws.onopen = function () {
        retry = 1000;
        ws.send(JSON.stringify({type: "subscribe", scope: "organization", id: opts.organization,
                                since: since}));
      };
      ws.onmessage = function (msg) {
        var data;
        try { data = JSON.parse(msg.data); } catch (e) { return; }
        if (data.type === "subscribed") { if (dot) dot.classList.add("on"); return; }
        if (data.type === "resync" || data.type === "replay_truncated") {
          since = data.since || data.next || since;
          ws.send(JSON.stringify({type: "subscribe", scope: "organization", id: opts.organization,
                                  since: since}));
          refresh();
          return;
        }
        if (data.type !== "event" || !data.event) return;
        var ev = data.event;
        if (seen[ev.id]) return;
        seen[ev.id] = true;
        if (!since || ev.id > since) { since = ev.id; sessionStorage.setItem(storeKey, String(since)); }
        if (relevant(ev)) refresh();
      };
      ws.onclose = function () {
        if (dot) dot.classList.remove("on");
        setTimeout(connect, retry);
        retry = Math.min(retry * 2, 30000);
      };
    }
    connect();
  }
  window.IncidentsLive = {watch: watch};
})();
