"""Pushing stored events to websocket groups (the transport; who gets what and the JSON shape
are in ``encompass.events.groups``).

Layer messages are ``{"type": "event.batch", "events": [...]}``; each web process's hub
(``encompass.events.hub``) hands them to its sockets, de-duplicated by event id.

A channel-layer failure is logged and swallowed: the event is already stored, and a client
recovers it by replay. Pushes from sync code (requests, jobs, commands) run on one long-lived
publisher loop per process, so they reuse its channel-layer connections: through
``async_to_sync`` each push got a new event loop and so a new Redis connection (that was most of
the cost of storing an event from a command or a django-q2 job). Ids pushed from this process
are remembered (bounded) so the table tailer (``encompass.events.tailer``) does not push them a
second time.
"""

import asyncio
import logging
import os
from collections import OrderedDict, defaultdict
from threading import Lock, Thread

from channels.layers import InMemoryChannelLayer, get_channel_layer

from .groups import BATCH_MESSAGE, groups_for
from .hub import local_hub

logger = logging.getLogger(__name__)

BATCH_CHUNK = 200
_PUSHED_MEMORY = 50_000


class _PushedIds:
    """A bounded, thread-safe set of event ids this process has already pushed."""

    def __init__(self, size):
        self.size = size
        self._ids = OrderedDict()
        self._lock = Lock()

    def add_many(self, ids):
        with self._lock:
            for event_id in ids:
                self._ids[event_id] = None
            while len(self._ids) > self.size:
                self._ids.popitem(last=False)

    def __contains__(self, event_id):
        with self._lock:
            return event_id in self._ids

    def clear(self):
        """Forget every id: only where ids start again (a test database flushed with its
        sequences reset); in production ids never repeat."""
        with self._lock:
            self._ids.clear()


pushed_here = _PushedIds(_PUSHED_MEMORY)


async def apush(messages):
    """Send serialized events to this process's sockets and to the channel layer; never raises.

    Events go to the layer in batches, one message per group (chunked), so an ingest batch of
    a thousand events is a handful of layer messages rather than thousands.
    """
    if not messages:
        return
    pushed_here.add_many(m["id"] for m in messages)
    hub = local_hub()
    if hub is not None:
        hub.dispatch_threadsafe(messages)
    layer = get_channel_layer()
    if layer is None or isinstance(layer, InMemoryChannelLayer):
        return  # process-local: the hub above is the whole audience
    by_group = defaultdict(list)
    for data in messages:
        for group in groups_for(data):
            by_group[group].append(data)
    try:
        for group, events in by_group.items():
            for start in range(0, len(events), BATCH_CHUNK):
                chunk = events[start : start + BATCH_CHUNK]
                await layer.group_send(group, {"type": BATCH_MESSAGE, "events": chunk})
    except Exception:  # a push is best effort; replay recovers
        logger.warning(
            "channel layer push failed; %d event(s) left for replay", len(messages), exc_info=True
        )


class _Publisher:
    """This process's loop for pushes from sync code: one daemon thread, started on first use
    (again after a fork, e.g. in a django-q2 worker)."""

    TIMEOUT = 10

    def __init__(self):
        self._lock = Lock()
        self._loop = self._thread = self._pid = None
        if hasattr(os, "register_at_fork"):
            # A child starts afresh: the parent's thread is not there, and the lock may have been
            # held by another of the parent's threads at the moment of the fork.
            os.register_at_fork(after_in_child=self._forget)

    def _forget(self):
        self._lock = Lock()
        self._loop = self._thread = self._pid = None

    def _running_loop(self):
        with self._lock:
            if self._pid != os.getpid() or self._thread is None or not self._thread.is_alive():
                self._loop = asyncio.new_event_loop()
                self._thread = Thread(
                    target=self._loop.run_forever, name="encompass-event-publisher", daemon=True
                )
                self._thread.start()
                self._pid = os.getpid()
            return self._loop

    def run(self, coroutine_function, *args):
        """Run ``coroutine_function(*args)`` on the publisher loop and wait for it."""
        future = asyncio.run_coroutine_threadsafe(coroutine_function(*args), self._running_loop())
        return future.result(timeout=self.TIMEOUT)


publisher = _Publisher()


def push(messages):
    """Send already-serialized events to their groups (from sync code); never raises."""
    if not messages:
        return
    try:
        publisher.run(apush, messages)
    except Exception:
        logger.warning(
            "channel layer unavailable; %d event(s) left for replay", len(messages), exc_info=True
        )
