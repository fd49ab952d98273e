/* A device's live telemetry chart on Chart.js (static/js/encompass-charts.js): one line per
 * metric on a time axis, tooltips, time zoom; keeps the last N points per series.
 *
 *   var chart = new TimeChart(container, {points: 300});
 *   chart.add("temp_c", isoOrMillis, 21.5);   // redrawn at most once a frame
 */
(function () {
  "use strict";

  function TimeChart(container, options) {
    this.maxPoints = (options && options.points) || 300;
    var box = document.createElement("div");
    box.className = "chart-box chart-tall";
    box.setAttribute("data-chart", "");
    this.canvas = document.createElement("canvas");
    this.canvas.className = "time-chart";
    this.canvas.setAttribute("role", "img");
    this.canvas.setAttribute("aria-label", "Telemetry chart");
    box.appendChild(this.canvas);
    container.appendChild(box);
    this.empty = document.createElement("p");
    this.empty.className = "muted chart-empty";
    this.empty.textContent = "Waiting for telemetry…";
    container.appendChild(this.empty);
    this.chart = window.EncompassCharts.time(this.canvas, {datasets: [], yTitle: "value", minRange: 10 * 1000,
                                                           tooltipFormat: "yyyy-MM-dd HH:mm:ss"});
    this.pending = false;
  }

  TimeChart.prototype.dataset = function (metric) {
    var sets = this.chart.data.datasets;
    for (var i = 0; i < sets.length; i++) if (sets[i].label === metric) return sets[i];
    var colour = window.EncompassCharts.palette[sets.length % window.EncompassCharts.palette.length];
    var set = {label: metric, data: [], borderColor: colour, backgroundColor: colour + "33",
               borderWidth: 2, pointRadius: 0, pointHoverRadius: 4, tension: 0.2};
    sets.push(set);
    return set;
  };

  TimeChart.prototype.add = function (metric, time, value) {
    var points = this.dataset(metric).data;
    var t = typeof time === "number" ? time : Date.parse(time);
    points.push({x: t, y: value});
    if (points.length > 1 && t < points[points.length - 2].x) points.sort(function (a, b) { return a.x - b.x; });
    if (points.length > this.maxPoints) points.splice(0, points.length - this.maxPoints);
    this.schedule();
  };

  TimeChart.prototype.schedule = function () {
    var self = this;
    if (this.pending) return;
    this.pending = true;
    window.requestAnimationFrame(function () { self.pending = false; self.draw(); });
  };

  TimeChart.prototype.draw = function () {
    this.empty.hidden = this.chart.data.datasets.some(function (d) { return d.data.length > 0; });
    this.chart.update("none");
  };

  TimeChart.prototype.points = function (metric) {
    var set = this.chart.data.datasets.filter(function (d) { return d.label === metric; })[0];
    return set ? set.data.length : 0;
  };

  window.TimeChart = TimeChart;
})();
