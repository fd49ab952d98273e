/* A device's page: live telemetry chart and live event list. */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("live-config").textContent);
  var chart = new window.TimeChart(document.getElementById("telemetry-chart"), {points: config.points});
  window.deviceChart = chart;  // for the browser tests
  Object.keys(config.series).forEach(function (metric) {
    config.series[metric].forEach(function (p) { chart.add(metric, p[0], p[1]); });
  });
  chart.draw();
  var list = document.getElementById("device-events");
  var statusBadge = document.getElementById("live-status");

  function addRow(event) {
    var row = document.createElement("tr");
    row.dataset.id = event.id;
    [new Date(event.received_at).toLocaleTimeString([], {hour12: false}), event.kind, event.severity,
     window.EncompassLive.summary(event)].forEach(function (value, i) {
      var cell = document.createElement("td");
      cell.textContent = value;
      if (i === 0) cell.className = "mono";
      row.appendChild(cell);
    });
    list.insertBefore(row, list.firstChild);
    list.parentNode.parentNode.scrollTop = 0;
    while (list.children.length > 50) list.removeChild(list.lastChild);
  }

  config.events.forEach(addRow);

  var live = window.EncompassLive.shared();
  live.onStatus(function (state, ok) {
    statusBadge.textContent = state;
    statusBadge.className = "badge " + (ok ? "live-ok" : "live-wait");
  });
  config.events.forEach(function (e) { live.remember(e.id); });
  live.subscribe("device", config.device, function (event) {
    addRow(event);
    if (event.kind === "device.telemetry" && event.payload.metrics) {
      var at = event.occurred_at || event.received_at;
      Object.keys(event.payload.metrics).forEach(function (m) { chart.add(m, at, event.payload.metrics[m]); });
    }
  }, {since: config.since});
})();
