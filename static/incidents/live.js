/* Incident board and incident page: re-fetch the page fragment (debounced) when an event whose
 * kind starts with one of `prefixes` arrives for the organization, over the shared websocket
 * client (static/js/encompass-live.js, which reconnects, replays what was missed and
 * de-duplicates). The fragment is also re-fetched once the socket is live and after every
 * reconnect or resync, so nothing that happened while the page was not listening is missed. */
(function () {
  "use strict";
  function watch(opts) {
    var target = document.getElementById(opts.target);
    if (!target || !opts.organization || !window.EncompassLive) return;
    var timer = null;
    var wasLive = false;
    function refresh() {
      clearTimeout(timer);
      timer = setTimeout(function () {
        fetch(target.dataset.fragmentUrl, {credentials: "same-origin"})
          .then(function (r) { return r.ok ? r.text() : null; })
          .then(function (html) { if (html !== null) target.innerHTML = html; })
          .catch(function () {});
      }, 250);
    }
    var live = window.EncompassLive.shared();
    var dot = window.EncompassLive.indicator(document.getElementById("live-state"));
    live.onStatus(function (state, ok) {
      dot(state, ok);
      if (ok && !wasLive) refresh();  // catch up on what happened since the page was rendered
      wasLive = ok;
    });
    live.onResync(refresh);
    live.subscribe("organization", opts.organization, function (ev) {
      if (opts.incident && ev.kind.indexOf("incident.") === 0 &&
          !(ev.payload && ev.payload.incident === opts.incident)) return;
      refresh();
    }, {kinds: opts.prefixes});
  }
  window.IncidentsLive = {watch: watch};
})();
