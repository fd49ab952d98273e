/* Encompass live events: the one websocket client every page uses (protocol: docs/realtime.md).
 *
 *   var live = EncompassLive.shared();                  // one socket per page, opened lazily
 *   live.onStatus(EncompassLive.indicator(document.getElementById("live-state")));
 *   var sub = live.subscribe("organization", 3, function (event, replayed) { ... },
 *                            {kinds: ["rollout."], since: lastIdSeenOrNull});
 *   sub.unsubscribe();
 *
 * subscribe(scope, id, onEvent, options)
 *   scope    "organization" | "site" | "device"; id is that object's primary key.
 *   onEvent  called once per event id (events arriving twice, e.g. through two subscriptions
 *            or a replay overlapping live delivery, are de-duplicated by id).
 *   options.kinds  event kinds to deliver: exact ("alert.raised") or prefixes ending in "."
 *                  ("rollout."); omitted or empty = every kind.
 *   options.since  first replay what was stored after this event id.
 * Several handlers may follow the same scope; the server sees one subscription.
 *
 * onStatus(fn)  fn(state, live) with state "connecting" | "live" | "reconnecting…" | a server
 *               message; live is true once subscriptions are confirmed. Called at once with the
 *               current state. EncompassLive.indicator(element) returns such a fn that toggles
 *               the class "on" (and the title) of a status dot.
 * onResync(fn)  fn() after the server dropped events for this socket and they are being
 *               replayed, and after every reconnect (pages that redraw from the server can
 *               refetch; event-driven pages need nothing: the replay brings what was missed).
 * whileDown(fn, ms)  call fn every ms while the socket is not live (a polling fallback).
 *
 * Reconnects after a random wait of up to the backoff (1 s, doubling to 15 s, back to 1 s once
 * the server confirms a subscription: a server that accepts and then fails does not reset it),
 * so the browsers of a whole operations floor spread out when a web process restarts, and
 * re-subscribes every scope from the last
 * event id delivered; follows "resync" and "replay_truncated" by asking for the replay again;
 * stops on 4401/4403 (signed out / second factor missing). No dependencies. */
(function () {
  "use strict";

  var SEEN_MAX = 5000;
  var BACKOFF_FIRST = 1000;  // ms: the first reconnect comes within 0.1-1.1 s
  var BACKOFF_MAX = 15000;

  function matches(scope, id, event) {
    if (scope === "organization") return event.organization === id;
    if (scope === "site") return event.site === id;
    return event.device_pk === id;
  }

  function kindFilter(kinds) {
    if (!kinds || !kinds.length) return function () { return true; };
    return function (kind) {
      return kinds.some(function (k) {
        return k.charAt(k.length - 1) === "." ? kind.indexOf(k) === 0 : kind === k;
      });
    };
  }

  function EncompassLive(options) {
    options = options || {};
    this.subs = new Map();            // "scope:id" -> {scope, id, since, handlers: []}
    this.lastId = 0;                  // highest event id delivered
    this.seen = new Set();            // recently delivered ids (bounded)
    this.seenOrder = [];
    this.backoff = BACKOFF_FIRST;
    this.socket = null;
    this.state = "connecting";
    this.live = false;
    this.statusListeners = [];
    this.resyncListeners = [];
    this.connected = false;       // at least one successful open (later opens are reconnects)
    if (options.onStatus) this.onStatus(options.onStatus);
    if (options.onResync) this.onResync(options.onResync);
  }

  EncompassLive.prototype.url = function () {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    // ?batch=1: events that go out together arrive as one {"type": "events"} frame, which is
    // what lets one web process serve many dashboards (docs/performance.md).
    return scheme + window.location.host + "/ws/events/?batch=1";
  };

  EncompassLive.prototype.setStatus = function (state, live) {
    this.state = state;
    this.live = live;
    this.statusListeners.forEach(function (fn) { fn(state, live); });
  };

  EncompassLive.prototype.onStatus = function (fn) {
    this.statusListeners.push(fn);
    fn(this.state, this.live);
    return this;
  };

  EncompassLive.prototype.onResync = function (fn) {
    this.resyncListeners.push(fn);
    return this;
  };

  EncompassLive.prototype.resynced = function () {
    this.resyncListeners.forEach(function (fn) { fn(); });
  };

  EncompassLive.prototype.whileDown = function (fn, ms) {
    var self = this;
    setInterval(function () { if (!self.live) fn(); }, ms);
    return this;
  };

  EncompassLive.prototype.connect = function () {
    var self = this;
    if (!window.WebSocket) { this.setStatus("no websocket support", false); return; }
    var socket = new WebSocket(this.url());
    this.socket = socket;
    this.setStatus(this.connected ? "reconnecting…" : "connecting", false);
    socket.onopen = function () {
      var reconnect = self.connected;
      self.connected = true;
      self.subs.forEach(function (sub) { self.send(sub, self.lastId || sub.since); });
      if (reconnect) self.resynced();
    };
    socket.onmessage = function (message) {
      var data;
      try { data = JSON.parse(message.data); } catch (e) { return; }
      self.handle(data);
    };
    socket.onclose = function (event) {
      if (event.code === 4401 || event.code === 4403) {
        self.setStatus("signed out — reload the page to sign in", false);
        return;
      }
      self.setStatus("reconnecting…", false);
      // "Full jitter": anywhere from 0.1 s to 0.1 s + the current backoff.
      setTimeout(function () { self.connect(); }, 100 + Math.random() * self.backoff);
      self.backoff = Math.min(self.backoff * 2, BACKOFF_MAX);
    };
  };

  EncompassLive.prototype.send = function (sub, since) {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return;
    this.socket.send(JSON.stringify({
      type: "subscribe", scope: sub.scope, id: sub.id, since: since ? since : null
    }));
  };

  EncompassLive.prototype.subscribe = function (scope, id, onEvent, options) {
    var self = this;
    options = options || {};
    id = Number(id);
    var key = scope + ":" + id;
    var handler = {onEvent: onEvent, wants: kindFilter(options.kinds)};
    var sub = this.subs.get(key);
    var since = options.since || 0;
    if (!sub) {
      sub = {scope: scope, id: id, since: since, handlers: []};
      this.subs.set(key, sub);
      if (this.socket) this.send(sub, since || this.lastId);
    } else if (since && (!sub.since || since < sub.since)) {
      sub.since = since;
      this.send(sub, since);
    }
    sub.handlers.push(handler);
    if (!this.socket) this.connect();
    return {
      unsubscribe: function () {
        sub.handlers = sub.handlers.filter(function (h) { return h !== handler; });
        if (sub.handlers.length || self.subs.get(key) !== sub) return;
        self.subs.delete(key);
        if (self.socket && self.socket.readyState === WebSocket.OPEN) {
          self.socket.send(JSON.stringify({type: "unsubscribe", scope: scope, id: id}));
        }
      }
    };
  };

  /* Mark an id as delivered (e.g. events the page rendered server-side). */
  EncompassLive.prototype.remember = function (id) {
    if (this.seen.has(id)) return;
    this.seen.add(id);
    this.seenOrder.push(id);
    if (this.seenOrder.length > SEEN_MAX) this.seen.delete(this.seenOrder.shift());
  };

  EncompassLive.prototype.deliver = function (event, replayed) {
    if (this.seen.has(event.id)) return;
    this.remember(event.id);
    if (event.id > this.lastId) this.lastId = event.id;
    this.subs.forEach(function (sub) {
      if (!matches(sub.scope, sub.id, event)) return;
      sub.handlers.forEach(function (h) { if (h.wants(event.kind)) h.onEvent(event, replayed); });
    });
  };

  EncompassLive.prototype.handle = function (data) {
    var self = this;
    if (data.type === "event" && data.event) {
      this.deliver(data.event, !!data.replay);
    } else if (data.type === "events" && data.events) {
      data.events.forEach(function (event) { self.deliver(event, !!data.replay); });
    } else if (data.type === "subscribed") {
      this.backoff = BACKOFF_FIRST;  // the server took us back: the next drop starts over
      this.setStatus("live", true);
    } else if (data.type === "resync") {
      // We fell behind and the server dropped events for us: replay from where it says.
      this.subs.forEach(function (sub) { self.send(sub, data.since); });
      this.resynced();
    } else if (data.type === "replay_truncated") {
      var sub = this.subs.get(data.scope + ":" + data.id);
      if (sub) this.send(sub, data.next);
    } else if (data.type === "unsubscribed" && data.reason) {
      this.subs.delete(data.scope + ":" + data.id);
      this.setStatus(data.reason, false);
    } else if (data.type === "error") {
      this.setStatus(data.reason, this.live);
    }
  };

  /* One line saying what an event is about, for feeds: the metrics of a telemetry event, the
   * signal of a security event, a transition, an alert's title, a log message; otherwise the
   * payload as JSON (cut at 160 characters). */
  EncompassLive.summary = function (event) {
    var p = event.payload || {};
    var kind = event.kind || "";
    if (kind === "device.telemetry" && p.metrics) {
      return Object.keys(p.metrics).map(function (k) { return k + "=" + p.metrics[k]; }).join(" ");
    }
    if (kind === "device.security") {
      var detail = typeof p.detail === "string" ? p.detail : JSON.stringify(p.detail);
      return p.signal + (p.detail ? ": " + detail : "");
    }
    if (kind === "device.health_changed" || kind === "device.lifecycle") return p.from + " → " + p.to;
    if (kind.indexOf("alert.") === 0) return p.title || "";
    if (kind === "device.log") return p.message || "";
    if (kind === "device.heartbeat") return p.firmware_version ? "firmware " + p.firmware_version : "";
    if (kind === "device.update_status") return p.status + (p.version ? " " + p.version : "");
    if (kind === "firmware.version_reported" && p.version) {
      return p.version + (p.previous ? " (was " + p.previous + ")" : "");
    }
    var json = JSON.stringify(p);
    return json === "{}" ? "" : json.slice(0, 160);
  };

  var shared = null;
  EncompassLive.shared = function () {
    if (!shared) shared = new EncompassLive();
    return shared;
  };

  /* A status listener for a dot/badge: class "on" while live, the state as its title. */
  EncompassLive.indicator = function (element) {
    return function (state, live) {
      if (!element) return;
      element.classList.toggle("on", live);
      element.title = live ? "live updates" : state;
      element.setAttribute("data-state", live ? "live" : "down");
    };
  };

  window.EncompassLive = EncompassLive;
})();
