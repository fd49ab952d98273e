/* Encompass live events: one websocket, subscriptions with replay, reconnect, de-duplication.
 *
 *   const live = new EncompassLive({onEvent, onStatus, onResync});
 *   live.subscribe("organization", 3, lastIdSeen);
 *
 * Protocol: docs/realtime.md. Reconnects with backoff and re-subscribes every scope from the
 * last event id it delivered; ignores ids it already delivered; follows "resync" and
 * "replay_truncated" by asking for replay again. No dependencies. */
(function () {
  "use strict";

  function EncompassLive(options) {
    this.options = options || {};
    this.subs = new Map();            // "scope:id" -> {scope, id}
    this.lastId = 0;                  // highest event id delivered
    this.seen = new Set();            // recently delivered ids (bounded)
    this.seenOrder = [];
    this.backoff = 500;
    this.socket = null;
    this.closedByUs = false;
    this.connect();
  }

  EncompassLive.prototype.url = function () {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    return scheme + window.location.host + "/ws/events/";
  };

  EncompassLive.prototype.status = function (text, ok) {
    if (this.options.onStatus) this.options.onStatus(text, ok);
  };

  EncompassLive.prototype.connect = function () {
    var self = this;
    var socket = new WebSocket(this.url());
    this.socket = socket;
    this.status("connecting", false);
    socket.onopen = function () {
      self.backoff = 500;
      self.status("live", true);
      self.subs.forEach(function (sub) { self.send(sub, self.lastId || sub.since); });
    };
    socket.onmessage = function (message) {
      var data;
      try { data = JSON.parse(message.data); } catch (e) { return; }
      self.handle(data);
    };
    socket.onclose = function (event) {
      if (self.closedByUs) return;
      if (event.code === 4401 || event.code === 4403) {
        self.status("signed out — reload the page to sign in", false);
        return;
      }
      self.status("reconnecting…", false);
      setTimeout(function () { self.connect(); }, self.backoff);
      self.backoff = Math.min(self.backoff * 2, 15000);
    };
  };

  EncompassLive.prototype.send = function (sub, since) {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return;
    this.socket.send(JSON.stringify({
      type: "subscribe", scope: sub.scope, id: sub.id,
      since: since === undefined || since === null ? null : since
    }));
  };

  EncompassLive.prototype.subscribe = function (scope, id, since) {
    var sub = {scope: scope, id: id, since: since || 0};
    if (since && since > this.lastId) this.lastId = since;
    this.subs.set(scope + ":" + id, sub);
    this.send(sub, since);
  };

  EncompassLive.prototype.remember = function (id) {
    this.seen.add(id);
    this.seenOrder.push(id);
    if (this.seenOrder.length > 5000) this.seen.delete(this.seenOrder.shift());
  };

  EncompassLive.prototype.handle = function (data) {
    var self = this;
    if (data.type === "event") {
      var event = data.event;
      if (this.seen.has(event.id)) return;
      this.remember(event.id);
      if (event.id > this.lastId) this.lastId = event.id;
      if (this.options.onEvent) this.options.onEvent(event, !!data.replay);
    } else if (data.type === "resync") {
      // We fell behind and the server dropped events for us: replay from where it says.
      this.subs.forEach(function (sub) { self.send(sub, data.since); });
      if (this.options.onResync) this.options.onResync();
    } else if (data.type === "replay_truncated") {
      var sub = this.subs.get(data.scope + ":" + data.id);
      if (sub) this.send(sub, data.next);
    } else if (data.type === "unsubscribed" && data.reason) {
      this.subs.delete(data.scope + ":" + data.id);
      this.status(data.reason, false);
    } else if (data.type === "error") {
      this.status(data.reason, false);
    }
  };

  window.EncompassLive = EncompassLive;
})();
