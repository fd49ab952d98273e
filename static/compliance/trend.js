/* The scorecard's score trend: one line per assessment (its framework), dated, 0-100 %. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("compliance-trend-data").textContent);
  var canvas = document.getElementById("compliance-trend");
  if (!window.EncompassCharts || !canvas) return;
  window.EncompassCharts.time(canvas, {
    yTitle: "score %", yMax: 100, tooltipFormat: "yyyy-MM-dd HH:mm", minRange: 3600 * 1000,
    datasets: data.series.map(function (s) {
      return {label: s.label, data: s.points.map(function (p) { return {x: new Date(p[0]).getTime(), y: p[1], why: p[2]}; })};
    }),
    tooltipLabel: function (item) {
      return item.dataset.label + ": " + item.parsed.y + " %" + (item.raw.why ? " (" + item.raw.why + ")" : "");
    },
  });
})();
