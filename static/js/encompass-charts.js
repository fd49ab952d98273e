/* Charts for every page, on Chart.js (static/vendor/, see its README) with the date-fns time
 * adapter and the zoom plugin: a time axis with dates, tooltips, zoom by mouse wheel / pinch or
 * by dragging a range (shift + drag pans), and a "Reset zoom" button.
 *
 *   EncompassCharts.time(canvas, {datasets: [{label, data: [{x: iso, y: n}], colour}], stacked,
 *                                 bar, yTitle, yMax, unit})
 *   EncompassCharts.bars(canvas, {labels, values, colours, title})
 *
 * Chart.js draws on the canvas (tooltips too): no inline style or script, so the strict CSP holds.
 */
(function () {
  "use strict";
  var PALETTE = ["#1f6feb", "#cf222e", "#1a7f37", "#9a6700", "#8250df", "#bc4c00", "#0a7ea4", "#6e7781"];
  var Chart = window.Chart;
  if (!Chart) return;
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = "#5b6777";
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.animation = false;

  function colour(i, given) { return given || PALETTE[i % PALETTE.length]; }

  function resetButton(canvas, chart) {
    var box = canvas.closest("[data-chart]") || canvas.parentNode;
    var bar = box.querySelector(".chart-actions");
    if (!bar) {
      bar = document.createElement("div");
      bar.className = "chart-actions";
      box.appendChild(bar);
    }
    var button = document.createElement("button");
    button.type = "button";
    button.className = "link chart-reset";
    button.textContent = "Reset zoom";
    button.hidden = true;
    button.addEventListener("click", function () { chart.resetZoom(); button.hidden = true; });
    bar.appendChild(button);
    var hint = document.createElement("span");
    hint.className = "muted";
    hint.textContent = "Drag or scroll on the chart to zoom in time.";
    bar.appendChild(hint);
    return button;
  }

  function time(canvas, options) {
    var reset;
    var datasets = options.datasets.map(function (d, i) {
      var c = colour(i, d.colour);
      return {
        label: d.label, data: d.data, borderColor: c, backgroundColor: options.bar ? c : c + "33",
        pointRadius: d.data.length > 60 ? 0 : 2.5, pointHoverRadius: 4, borderWidth: 2,
        tension: 0.2, fill: !!options.fill, stepped: !!d.stepped, spanGaps: true,
      };
    });
    var chart = new Chart(canvas, {
      type: options.bar ? "bar" : "line",
      data: {datasets: datasets},
      options: {
        parsing: true,
        interaction: {mode: "nearest", axis: "x", intersect: false},
        scales: {
          x: {
            type: "time", stacked: !!options.stacked, offset: !!options.bar,
            time: {unit: options.unit || undefined, tooltipFormat: options.tooltipFormat || "yyyy-MM-dd HH:mm",
                   displayFormats: {minute: "HH:mm", hour: "dd MMM HH:mm", day: "d MMM yyyy", month: "MMM yyyy"}},
            ticks: {maxRotation: 0, autoSkip: true, autoSkipPadding: 18},
            grid: {display: false},
          },
          y: {stacked: !!options.stacked, beginAtZero: true, max: options.yMax,
              title: {display: !!options.yTitle, text: options.yTitle || ""},
              ticks: {precision: 0}},
        },
        plugins: {
          legend: {position: "bottom", labels: {boxWidth: 12, usePointStyle: true}},
          tooltip: {callbacks: options.tooltipLabel ? {label: options.tooltipLabel} : {}},
          zoom: {
            limits: {x: {min: "original", max: "original", minRange: options.minRange || 60 * 1000}},
            zoom: {wheel: {enabled: true}, pinch: {enabled: true}, drag: {enabled: true, backgroundColor: "rgba(31,111,235,.15)"},
                   mode: "x", onZoomComplete: function () { if (reset) reset.hidden = false; }},
            pan: {enabled: true, mode: "x", modifierKey: "shift", onPanComplete: function () { if (reset) reset.hidden = false; }},
          },
        },
      },
    });
    reset = resetButton(canvas, chart);
    return chart;
  }

  function bars(canvas, options) {
    return new Chart(canvas, {
      type: "bar",
      data: {labels: options.labels, datasets: [{label: options.title || "", data: options.values,
             backgroundColor: options.colours || options.values.map(function (_, i) { return colour(i); })}]},
      options: {
        indexAxis: options.horizontal ? "y" : "x",
        scales: {y: {beginAtZero: true, ticks: {precision: 0}}, x: {ticks: {precision: 0}}},
        plugins: {legend: {display: false}},
      },
    });
  }

  window.EncompassCharts = {time: time, bars: bars, palette: PALETTE};
})();
