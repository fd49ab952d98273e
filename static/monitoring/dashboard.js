/* The fleet dashboard: counts by state and health, the event feed and open alerts, all live;
 * charts of the last hour (events per minute by kind, online/late/offline, open alerts by
 * severity) that keep up with the websocket.
 *
 * The feed is for reading: rows are shown at most ROWS_PER_SECOND (the demo alone sends ~27
 * events a second), the backlog beyond ten seconds' worth is counted, not shown, and "Pause" holds the table still. The
 * counters (the "new" count, the fleet counts, the charts) take every event, shown or not. */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("live-config").textContent);
  var feed = document.getElementById("event-feed");
  var alertsBody = document.getElementById("open-alerts");
  var statusBadge = document.getElementById("live-status");
  var FEED_MAX = 60;
  var ROWS_PER_SECOND = 4;
  var QUEUE_MAX = 200;  // beyond this, the oldest waiting rows are skipped (still counted)
  var queue = [];
  var paused = false;
  var skipped = 0;
  var received = 0;

  function text(tag, value, className) {
    var node = document.createElement(tag);
    node.textContent = value;
    if (className) node.className = className;
    return node;
  }

  // A time today; the date too for an earlier day (an alert seen three days ago is not today's).
  function when(iso) {
    var at = new Date(iso);
    var time = at.toLocaleTimeString([], {hour12: false});
    return at.toDateString() === new Date().toDateString() ? time : at.toLocaleDateString() + " " + time;
  }

  function addToFeed(event) {
    var row = document.createElement("tr");
    row.dataset.id = event.id;
    row.className = "sev-" + event.severity;
    row.appendChild(text("td", new Date(event.received_at).toLocaleTimeString([], {hour12: false}), "mono"));
    var kind = text("td", "");
    kind.appendChild(text("span", event.kind, "badge kind"));
    row.appendChild(kind);
    var device = text("td", "");
    if (event.device_pk) {
      var uid = event.device || ("#" + event.device_pk);
      var label = event.device_name || uid;
      var link = text("a", label.length > 16 ? label.slice(0, 16) + "…" : label, event.device_name ? "" : "mono");
      link.title = event.device_name ? event.device_name + " (" + uid + ")" : uid;
      link.href = config.deviceUrl.replace("/0/", "/" + event.device_pk + "/");
      device.appendChild(link);
    }
    row.appendChild(device);
    row.appendChild(text("td", window.EncompassLive.summary(event)));
    // keep the feed ordered by id, newest on top
    var before = null;
    for (var i = 0; i < feed.children.length; i++) {
      if (+feed.children[i].dataset.id < event.id) { before = feed.children[i]; break; }
    }
    feed.insertBefore(row, before);
    while (feed.children.length > FEED_MAX) feed.removeChild(feed.lastChild);
    var empty = document.getElementById("feed-empty");
    if (empty) empty.remove();
  }

  // Every event counts at once; its row waits its turn (or is skipped when too many wait).
  function enqueue(event) {
    received += 1;
    document.getElementById("event-count").textContent = String(received);
    queue.push(event);
    if (queue.length > QUEUE_MAX) { skipped += queue.length - QUEUE_MAX; queue.splice(0, queue.length - QUEUE_MAX); }
    note();
  }
  function drain() {
    if (paused || !queue.length) return;
    // Show the oldest waiting row; what waits beyond ten seconds' worth is skipped (counted).
    var keep = ROWS_PER_SECOND * 10;
    if (queue.length > keep) { skipped += queue.length - keep; queue.splice(0, queue.length - keep); }
    addToFeed(queue.shift());
    note();
  }
  function note() {
    var parts = [];
    if (paused) parts.push("Paused: " + queue.length + " waiting");
    if (skipped) parts.push(skipped + " not shown (too fast to read; counted above)");
    document.getElementById("feed-note").textContent = parts.join(" · ");
  }
  var pauseButton = document.getElementById("feed-pause");
  pauseButton.addEventListener("click", function () {
    paused = !paused;
    pauseButton.setAttribute("aria-pressed", paused ? "true" : "false");
    pauseButton.textContent = paused ? "Resume" : "Pause";
    note();
  });
  setInterval(drain, 1000 / ROWS_PER_SECOND);

  // --- charts -------------------------------------------------------------------------
  var history = config.history;
  var charts = {};
  var MINUTE = 60000;
  var MAX_KINDS = 6;  // as the server's HISTORY_KINDS; the rest are "other"
  function minuteOf(iso) { var t = new Date(iso).getTime(); return t - (t % MINUTE); }
  function initCharts() {
    if (!window.EncompassCharts || !history) return;
    var kinds = Object.keys(history.events);
    var start = new Date(history.start).getTime();
    var minutes = [];
    for (var i = 0; i < history.minutes; i++) minutes.push(start + i * MINUTE);
    charts.eventKinds = kinds;
    charts.minutes = minutes;
    charts.events = window.EncompassCharts.time(document.getElementById("chart-events"), {
      bar: true, stacked: true, unit: "minute", tooltipFormat: "yyyy-MM-dd HH:mm", yTitle: "events / minute",
      datasets: kinds.map(function (kind) {
        var byMinute = history.events[kind];
        var counts = {};
        Object.keys(byMinute).forEach(function (iso) { counts[minuteOf(iso)] = byMinute[iso]; });
        return {label: kind, data: minutes.map(function (m) { return {x: m, y: counts[m] || 0}; })};
      }),
    });
    var h = history.health;
    charts.health = window.EncompassCharts.time(document.getElementById("chart-health"), {
      unit: "minute", yTitle: "devices",
      datasets: h.series.map(function (name, i) {
        return {label: h.labels[i], colour: h.colours[i], stepped: true,
                data: h.points.map(function (p) { return {x: new Date(p[0]).getTime(), y: p[i + 1]}; })};
      }),
    });
    charts.alerts = window.EncompassCharts.bars(document.getElementById("chart-alerts"), {
      labels: history.alerts.map(function (a) { return a.label; }),
      values: history.alerts.map(function (a) { return a.count; }),
      colours: history.alerts.map(function (a) { return a.colour; }),
      title: "open alerts",
    });
    setInterval(tickHealth, 15000);
  }
  function bucket(dataset, minute) {
    var data = dataset.data;
    var last = data[data.length - 1];
    if (!last || last.x < minute) {
      last = {x: minute, y: 0};
      data.push(last);
      if (data.length > 180) data.shift();
    }
    return last;
  }
  function countEventInChart(event) {
    if (!charts.events) return;
    var minute = minuteOf(event.received_at || new Date().toISOString());
    var known = charts.eventKinds.indexOf(event.kind) >= 0;
    if (!known && charts.eventKinds.length < MAX_KINDS) { charts.eventKinds.push(event.kind); known = true; }
    var name = known ? event.kind : "other";
    var sets = charts.events.data.datasets;
    var target = null;
    sets.forEach(function (d) { bucket(d, minute); if (d.label === name) target = d; });
    if (!target) {
      // A kind first seen live: zero for the past minutes, so the bars keep their width.
      var past = charts.minutes.filter(function (m) { return m < minute; }).map(function (m) { return {x: m, y: 0}; });
      target = {label: name, data: past, backgroundColor: window.EncompassCharts.palette[sets.length % 8],
                borderColor: window.EncompassCharts.palette[sets.length % 8]};
      sets.push(target);
    }
    bucket(target, minute).y += 1;
    scheduleUpdate(charts.events);
  }
  function tickHealth() {
    if (!charts.health) return;
    var minute = minuteOf(new Date().toISOString());
    charts.health.data.datasets.forEach(function (d, i) {
      var value = +document.querySelector('[data-count="health:' + history.health.series[i] + '"]').textContent;
      bucket(d, minute).y = value;
    });
    scheduleUpdate(charts.health);
  }
  // Open alerts by severity: exact from the server, then moved by each alert event.
  var alertCounts = {};
  (history ? history.alerts : []).forEach(function (a) { alertCounts[a.severity] = a.count; });
  function drawAlertChart() {
    if (!charts.alerts) return;
    charts.alerts.data.datasets[0].data = history.alerts.map(function (a) { return Math.max(0, alertCounts[a.severity] || 0); });
    scheduleUpdate(charts.alerts);
  }
  var pendingCharts = new Set();
  function scheduleUpdate(chart) {
    if (!pendingCharts.size) setTimeout(function () {
      pendingCharts.forEach(function (c) { c.update("none"); });
      pendingCharts.clear();
    }, 1000);
    pendingCharts.add(chart);
  }

  function bump(kind, value, delta) {
    var cell = document.querySelector('[data-count="' + kind + ':' + value + '"]');
    if (!cell) return;
    cell.textContent = String(Math.max(0, +cell.textContent + delta));
    cell.closest(".stat-box").classList.add("flash");
    setTimeout(function () { cell.closest(".stat-box").classList.remove("flash"); }, 600);
  }

  function renderCounts(data) {
    if (data.alerts_by_severity) alertCounts = data.alerts_by_severity;
    data.states.forEach(function (s) { var c = document.querySelector('[data-count="state:' + s.value + '"]'); if (c) c.textContent = s.count; });
    data.health.forEach(function (s) { var c = document.querySelector('[data-count="health:' + s.value + '"]'); if (c) c.textContent = s.count; });
    renderAlerts(data.alerts);
  }

  var openAlerts = new Map();
  function renderAlerts(list) {
    openAlerts = new Map(list.map(function (a) { return [a.id, a]; }));
    drawAlerts();
  }
  function drawAlerts() {
    alertsBody.textContent = "";
    var rows = Array.from(openAlerts.values()).sort(function (a, b) { return new Date(b.last_seen_at) - new Date(a.last_seen_at); });
    rows.slice(0, 25).forEach(function (a) {
      var row = document.createElement("tr");
      var sev = text("td", ""); sev.appendChild(text("span", a.severity, "badge sev sev-" + a.severity)); row.appendChild(sev);
      // the title, and under it how often, its status and when it was last seen
      var what = text("td", "");
      what.appendChild(text("span", a.title, "alert-title"));
      var seen = when(a.last_seen_at);
      what.appendChild(text("span", "×" + a.count + " · " + a.status + " · last " + seen, "alert-meta"));
      row.appendChild(what);
      row.appendChild(incidentCell(a));
      alertsBody.appendChild(row);
    });
    document.getElementById("alert-count").textContent = String(openAlerts.size);
    drawAlertChart();
    // The incident column only when there is something to show in it: a linked incident, or a
    // button for a role that may escalate.
    var incidents = Array.prototype.some.call(alertsBody.querySelectorAll("td.alert-incident"),
      function (cell) { return cell.hasChildNodes(); });
    alertsBody.closest("table").classList.toggle("no-incident", !incidents);
    if (!rows.length) {
      var none = document.createElement("tr");
      none.appendChild(text("td", "No open alerts.", "empty"));
      none.firstChild.colSpan = 3;
      alertsBody.appendChild(none);
    }
  }

  // The incident an alert was escalated into, or an "Escalate to incident" button (posting to
  // the incidents app's escalate view) for roles that may escalate.
  function incidentCell(a) {
    var cell = text("td", "", "alert-incident");
    if (a.incident) {
      var link = text("a", a.incident.reference, "mono");
      link.href = a.incident.url;
      cell.appendChild(link);
    } else if (config.escalateUrl && a.status !== "resolved" &&
               (a.can_escalate !== undefined ? a.can_escalate : config.canEscalate)) {
      var form = document.createElement("form");
      form.method = "post";
      form.action = config.escalateUrl;
      form.className = "inline escalate";
      [["csrfmiddlewaretoken", csrfToken()], ["alerts", String(a.id)]].forEach(function (pair) {
        var input = document.createElement("input");
        input.type = "hidden"; input.name = pair[0]; input.value = pair[1];
        form.appendChild(input);
      });
      var button = text("button", "Escalate");
      button.title = "Escalate to incident";
      form.appendChild(button);
      cell.appendChild(form);
    }
    return cell;
  }
  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    if (input) return input.value;
    var match = document.cookie.match(/(?:^|; )csrftoken=([^;]*)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function onEvent(event) {
    enqueue(event);
    countEventInChart(event);
    var p = event.payload || {};
    if (event.kind === "device.health_changed") { bump("health", p.from, -1); bump("health", p.to, +1); tickHealth(); }
    else if (event.kind === "device.lifecycle") { bump("state", p.from, -1); bump("state", p.to, +1); }
    else if (event.kind === "device.registered") { bump("state", "procured", +1); bump("health", "unknown", +1); }
    else if (event.kind.indexOf("alert.") === 0 && p.alert) {
      if (p.status === "resolved") { if (p.severity) alertCounts[p.severity] = (alertCounts[p.severity] || 0) - 1; }
      else if (event.kind === "alert.raised" && p.count === 1) alertCounts[p.severity] = (alertCounts[p.severity] || 0) + 1;
      if (p.status === "resolved") openAlerts.delete(p.alert);
      else {
        var known = openAlerts.get(p.alert) || {};
        openAlerts.set(p.alert, {id: p.alert, title: p.title, severity: p.severity, status: p.status, count: p.count, last_seen_at: p.last_seen_at || known.last_seen_at || event.received_at, incident: known.incident, can_escalate: known.can_escalate});
      }
      drawAlerts();
    }
  }

  function refreshCounts() {
    fetch(config.countsUrl, {credentials: "same-origin"}).then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) renderCounts(data); });
  }

  config.events.forEach(function (e) { addToFeed(e); });
  document.getElementById("event-count").textContent = "0";
  initCharts();
  renderAlerts(config.alerts);

  var live = window.EncompassLive.shared();
  live.onStatus(function (state, ok) {
    statusBadge.textContent = state;
    statusBadge.className = "badge " + (ok ? "live-ok" : "live-wait");
    if (ok) refreshCounts();
  });
  live.onResync(refreshCounts);
  config.events.forEach(function (e) { live.remember(e.id); });
  live.subscribe("organization", config.organization, onEvent, {since: config.since});
})();
