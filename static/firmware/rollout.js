/* Live rollout progress: on a rollout.* event for this rollout (from the shared websocket client,
 * static/js/encompass-live.js), refetch the JSON progress and redraw the status and wave table.
 * While the socket is not live the same JSON is polled every 10 s. */
(function () {
  "use strict";
  function esc(s) { var d = document.createElement("div"); d.textContent = s == null ? "" : String(s); return d.innerHTML; }
  // Progress over time: cumulative offered / succeeded / failed (Chart.js, zoomable).
  var chart = null;
  var SERIES = [["offered", "Offered", "#1f6feb"], ["succeeded", "Succeeded", "#1a7f37"], ["failed", "Failed", "#cf222e"]];
  function datasets(timeline) {
    return SERIES.map(function (s) {
      return {label: s[1], colour: s[2], stepped: true,
              data: (timeline.series[s[0]] || []).map(function (p) { return {x: new Date(p[0]).getTime(), y: p[1]}; })};
    });
  }
  function drawTimeline(timeline) {
    var canvas = document.getElementById("rollout-chart");
    if (!canvas || !window.EncompassCharts || !timeline) return;
    var empty = document.getElementById("rollout-chart-empty");
    if (empty) empty.hidden = (timeline.series.offered || []).length > 0;
    if (!chart) {
      chart = window.EncompassCharts.time(canvas, {unit: timeline.unit, yTitle: "devices", datasets: datasets(timeline)});
      return;
    }
    var fresh = datasets(timeline);
    chart.data.datasets.forEach(function (d, i) { d.data = fresh[i].data; });
    chart.update("none");
  }
  var initial = document.getElementById("rollout-timeline");
  if (initial) drawTimeline(JSON.parse(initial.textContent));

  function redraw(data) {
    if (data.timeline) drawTimeline(data.timeline);
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
        "<td><div class='fw-bar'><span class='ok' data-css-w='" + Number(w.success_percent) + "%'></span>" +
        "<span class='bad' data-css-w='" + Number(w.failure_percent) + "%'></span></div></td>" +
        "<td>" + w.succeeded + "</td><td>" + w.in_progress + "</td><td>" + w.pending + "</td>" +
        "<td>" + w.failed + "</td><td>" + w.cancelled + "</td></tr>";
    }).join("");
    // The bar widths are data-css-w attributes (no style attribute under the CSP).
    if (window.EncompassStyles) window.EncompassStyles.apply(body);
  }
  function watch(opts) {
    var table = document.getElementById("waves");
    if (!table || !window.EncompassLive) return;
    var url = table.dataset.progressUrl;
    var timer = null;
    var wasLive = false;
    function refresh() {
      clearTimeout(timer);
      timer = setTimeout(function () {
        fetch(url, {credentials: "same-origin"})
          .then(function (r) { return r.ok ? r.json() : null; })
          .then(function (data) { if (data) redraw(data); })
          .catch(function () {});
      }, 200);
    }
    var live = window.EncompassLive.shared();
    var dot = window.EncompassLive.indicator(document.getElementById("live-state"));
    live.onStatus(function (state, ok) {
      dot(state, ok);
      if (ok && !wasLive) refresh();  // what changed since the page was rendered
      wasLive = ok;
    });
    live.onResync(refresh);
    live.whileDown(refresh, 10000);
    live.subscribe("organization", opts.organization, function (ev) {
      if (ev.payload && ev.payload.rollout === opts.rollout) refresh();
    }, {kinds: ["rollout."]});
  }
  window.EncompassRollout = {watch: watch};
})();
