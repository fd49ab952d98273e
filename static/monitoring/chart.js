/* A small time-series line chart drawn in SVG (no library): one line per metric, time axis,
 * value axis with round ticks, a legend; keeps the last N points per series. */
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var PALETTE = ["#1f6feb", "#cf222e", "#1a7f37", "#9a6700", "#8250df", "#bc4c00", "#0a7ea4"];

  function el(name, attrs, parent) {
    var node = document.createElementNS(NS, name);
    for (var key in attrs) node.setAttribute(key, attrs[key]);
    if (parent) parent.appendChild(node);
    return node;
  }

  function niceTicks(min, max, count) {
    if (min === max) { min -= 1; max += 1; }
    var span = max - min, step = Math.pow(10, Math.floor(Math.log10(span / count)));
    var err = (count * step) / span;
    if (err <= 0.15) step *= 10; else if (err <= 0.35) step *= 5; else if (err <= 0.75) step *= 2;
    var ticks = [];
    for (var v = Math.ceil(min / step) * step; v <= max + step / 2; v += step) ticks.push(+v.toFixed(10));
    return ticks;
  }

  function TimeChart(container, options) {
    this.container = container;
    this.maxPoints = (options && options.points) || 300;
    this.series = new Map();   // metric -> [[time ms, value], ...]
    this.colours = new Map();
    this.width = 760; this.height = 280;
    this.margin = {top: 12, right: 16, bottom: 28, left: 52};
    this.svg = el("svg", {viewBox: "0 0 " + this.width + " " + this.height, role: "img",
                          "class": "time-chart", "aria-label": "Telemetry chart"}, container);
    this.legend = document.createElement("div");
    this.legend.className = "chart-legend";
    container.appendChild(this.legend);
    this.pending = false;
  }

  TimeChart.prototype.colour = function (metric) {
    if (!this.colours.has(metric)) this.colours.set(metric, PALETTE[this.colours.size % PALETTE.length]);
    return this.colours.get(metric);
  };

  TimeChart.prototype.add = function (metric, time, value) {
    var points = this.series.get(metric);
    if (!points) { points = []; this.series.set(metric, points); }
    var t = typeof time === "number" ? time : Date.parse(time);
    if (points.length && t < points[points.length - 1][0]) {
      points.push([t, value]);
      points.sort(function (a, b) { return a[0] - b[0]; });
    } else {
      points.push([t, value]);
    }
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
    var svg = this.svg, m = this.margin, w = this.width - m.left - m.right, h = this.height - m.top - m.bottom;
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var tMin = Infinity, tMax = -Infinity, vMin = Infinity, vMax = -Infinity, count = 0;
    this.series.forEach(function (points) {
      points.forEach(function (p) {
        tMin = Math.min(tMin, p[0]); tMax = Math.max(tMax, p[0]);
        vMin = Math.min(vMin, p[1]); vMax = Math.max(vMax, p[1]); count++;
      });
    });
    if (!count) {
      el("text", {x: this.width / 2, y: this.height / 2, "text-anchor": "middle", "class": "chart-empty"}, svg)
        .textContent = "Waiting for telemetry…";
      return;
    }
    if (tMin === tMax) { tMin -= 30000; tMax += 30000; }
    var ticks = niceTicks(vMin, vMax, 5);
    vMin = Math.min(vMin, ticks[0]); vMax = Math.max(vMax, ticks[ticks.length - 1]);
    if (vMin === vMax) { vMin -= 1; vMax += 1; }
    var x = function (t) { return m.left + ((t - tMin) / (tMax - tMin)) * w; };
    var y = function (v) { return m.top + h - ((v - vMin) / (vMax - vMin)) * h; };
    ticks.forEach(function (v) {
      el("line", {x1: m.left, x2: m.left + w, y1: y(v), y2: y(v), "class": "chart-grid"}, svg);
      el("text", {x: m.left - 6, y: y(v) + 4, "text-anchor": "end", "class": "chart-label"}, svg).textContent = v;
    });
    for (var i = 0; i <= 4; i++) {
      var t = tMin + ((tMax - tMin) * i) / 4;
      // the first and last labels align with the plot's edges, so neither is cut off
      var anchor = i === 0 ? "start" : i === 4 ? "end" : "middle";
      el("text", {x: x(t), y: this.height - 8, "text-anchor": anchor, "class": "chart-label"}, svg)
        .textContent = new Date(t).toLocaleTimeString([], {hour12: false});
    }
    el("line", {x1: m.left, x2: m.left, y1: m.top, y2: m.top + h, "class": "chart-axis"}, svg);
    el("line", {x1: m.left, x2: m.left + w, y1: m.top + h, y2: m.top + h, "class": "chart-axis"}, svg);
    var self = this;
    this.legend.textContent = "";
    this.series.forEach(function (points, metric) {
      var colour = self.colour(metric);
      var d = points.map(function (p, j) { return (j ? "L" : "M") + x(p[0]).toFixed(1) + " " + y(p[1]).toFixed(1); }).join(" ");
      el("path", {d: d, fill: "none", stroke: colour, "stroke-width": 2, "data-metric": metric, "class": "chart-line"}, svg);
      var last = points[points.length - 1];
      el("circle", {cx: x(last[0]), cy: y(last[1]), r: 3.5, fill: colour}, svg);
      var item = document.createElement("span");
      item.className = "chart-key";
      var swatch = document.createElement("i");
      swatch.style.background = colour;  // a property set by script: allowed by the CSP
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(metric + " " + last[1]));
      self.legend.appendChild(item);
    });
  };

  window.TimeChart = TimeChart;
})();
