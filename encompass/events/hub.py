"""The per-process fan-out hub between the channel layer and this process's websockets.

A websocket does not join channel-layer groups itself. The process's hub joins each group once
(when the first local socket wants it) and hands every event to the local sockets that asked for
it. So an event crosses Redis once per web process, not once per socket, and its JSON text is
built once and shared by every socket.

Events stored by this process are handed to the hub directly at commit (no round trip); the copy
that comes back through the channel layer is recognised by id and dropped.

Delivery is a *sweep* over this process's listening sockets, done by one fan-out task, a chunk
of sockets at a time. Arriving events are appended to a log, encoded once each (JSON, ``event``
frame, wire bytes). Each socket has a cursor in the log; when the sweep reaches it, it is handed
everything from its cursor to the log's end that it may see. Sockets with the same subscriptions
and reach form an *audience*: what an audience sees between two log positions (a :class:`Run`) is
worked out once, and its frame -- one ``{"type": "events"}`` frame, or the events' ``event`` frames
back to back -- is built once and shared by every socket of the audience. Under ``python -m
encompass.server`` each socket writes those shared bytes straight to its connection
(``encompass.events.wire``); otherwise, or while a socket has replies or replays queued or its
client is behind, the events go through the socket's own outbox and sender.

Between chunks the sweep yields to the loop, and events that arrived meanwhile join the log at
once: sockets later in the sweep get them in this sweep, the rest in the next. So an event waits
at most about one sweep, not for the sweep in progress to end and then its own turn in the next.
Under load events coalesce per socket instead of each one waking every socket, so the cost per
event falls as the load rises; after a sweep the hub leaves the loop alone for a quarter of the
time it took (at most ``SWEEP_GAP_MAX``) so handshakes, requests and the layer reader keep up.

The channel-layer reader runs in a thread of its own, so while a sweep keeps the loop busy it
keeps pulling events.

Outages. Group memberships live in Redis: a Redis that restarts empty (or is flushed, or fails
over) has forgotten them, and nothing tells the hub. So a watcher task checks the layer every
``ENCOMPASS["LAYER_CHECK_SECONDS"]`` (2 s): a sentinel key the hub set is read back; when it is
gone, or the layer failed meanwhile (the reader's connection broke, a join failed), the hub
re-joins every group its sockets are in, tells every listening socket to ``resync`` from the
highest event id stored one check before the layer was last seen whole (the client replays the
gap and ignores ids it has), and has every socket re-check its access (a ``membership.changed``
pushed during the outage was lost). Every ``ENCOMPASS["ACCESS_RECHECK_SECONDS"]`` (60 s) it also
re-reads each connected user's reach, once per user, and sockets whose reach changed re-check
their subscriptions: a permission change reaches open sockets within that bound whatever
happened to its push. Groups are re-joined at least every half ``group_expiry`` (channels_redis
forgets a membership after a day).
"""

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import threading
from collections import OrderedDict, defaultdict

from channels import DEFAULT_CHANNEL_LAYER
from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer, channel_layers, get_channel_layer
from django.conf import settings

from .groups import BATCH_MESSAGE, Reach, groups_for, user_group
from .models import Event
from .wire import text_frame

logger = logging.getLogger(__name__)

_RECENT = 20_000
SWEEP_CHUNK = 100  # sockets written between two looks at the loop (and at new events)
SWEEP_GAP_RATIO = 0.25  # after a sweep, leave the loop alone for this share of its duration ...
SWEEP_GAP_MAX = 0.005  # ... but never longer than this (seconds): an event may wait that long


class Item:
    """One event in the hub's log, encoded once for every socket that gets it."""

    __slots__ = ("body", "data", "groups", "id", "text", "wire")

    def __init__(self, data, groups):
        self.id = data["id"]
        self.data = data
        self.groups = groups
        self.body = json.dumps(data, separators=(",", ":"))
        self.text = '{"type":"event","event":' + self.body + "}"
        self.wire = text_frame(self.text.encode())


class Run:
    """The events one audience gets from a stretch of the log, in log order, with their frames
    built once (on first use) and shared by every socket that gets the same run."""

    __slots__ = ("_batch", "_plain", "ids", "items", "max_id", "min_id")

    def __init__(self, items):
        self.items = items
        self.ids = dict.fromkeys(item.id for item in items)
        self.min_id = min(self.ids)
        self.max_id = max(self.ids)
        self._batch = self._plain = None

    def wire(self, batch):
        """The bytes a socket is sent for this run: one ``events`` frame for a socket that asked
        for batches, otherwise one ``event`` frame per event, back to back."""
        if len(self.items) == 1:
            return self.items[0].wire
        if batch:
            if self._batch is None:
                text = events_frame([item.body for item in self.items])
                self._batch = text_frame(text.encode())
            return self._batch
        if self._plain is None:
            self._plain = b"".join(item.wire for item in self.items)
        return self._plain


class Hub:
    def __init__(self, loop):
        self.loop = loop
        self.members = defaultdict(set)  # group -> local sockets
        self.layer = get_channel_layer()
        self.use_layer = self.layer is not None and not isinstance(self.layer, InMemoryChannelLayer)
        self.channel = None
        self.reader = None
        self._reader_loop = self._reader_task = None
        self.recent = OrderedDict()
        self._lock = asyncio.Lock()
        self.pending = []
        self.frames = {}
        self.runs = {}  # ids of a run -> the sweep's shared Run
        self.stretches = {}  # (audience, from, to) -> that audience's Run of the log, or None
        self.log = []  # the Items not yet handed to every listener
        self.base = 0  # the log position of log[0]
        self.listeners = {}  # socket -> how many event groups (not user.<pk>) it is in
        self.forgotten = set()  # groups emptied by forget(), still joined on the layer
        self._wake = asyncio.Event()
        self._fanout = None
        self.closed = False  # the server is shutting down: nothing more is delivered
        # Layer health (see "Outages" in the module docstring).
        self._watcher = None
        self.layer_lost = False  # the layer failed; groups to re-join, sockets to resync
        self.mark = None  # highest stored event id one check before the last one that was whole
        self._next_mark = None
        self.rejoined = 0  # times the groups were re-joined after a loss (tests, logs)
        self._joined_at = 0.0

    # --- membership ----------------------------------------------------------------------------
    async def join(self, group, socket):
        async with self._lock:
            await self._discard_forgotten()
            first = not self.members[group]
            if socket not in self.members[group]:
                self.members[group].add(socket)
                if not group.startswith("user."):
                    if socket not in self.listeners:
                        socket.hub_cursor = self.base + len(self.log)
                        self.listeners[socket] = 0
                    self.listeners[socket] += 1
            if first and self.use_layer:
                # Shielded: a socket that goes away meanwhile must not leave the group (now in
                # ``members``, so later sockets will not add it) unjoined on the layer.
                await asyncio.shield(self._join_layer(group))
        self._ensure_watcher()

    async def _join_layer(self, group):
        try:
            await self._ensure_reader()
            await self.layer.group_add(group, self.channel)
        except Exception:
            # Re-joined by the watcher when the layer answers again.
            self.layer_lost = True
            logger.warning("could not join channel-layer group %s", group, exc_info=True)

    async def leave(self, group, socket):
        async with self._lock:
            await self._discard_forgotten()
            sockets = self.members.get(group)
            if not sockets or socket not in sockets:
                return
            sockets.discard(socket)
            if not group.startswith("user."):
                self.listeners[socket] -= 1
                if not self.listeners[socket]:
                    del self.listeners[socket]
            if not sockets:
                del self.members[group]
                if self.use_layer and self.channel:
                    try:
                        await self.layer.group_discard(group, self.channel)
                    except Exception:
                        logger.warning("could not leave group %s", group, exc_info=True)

    async def leave_all(self, socket):
        """A socket closed: drop it, and leave the layer groups it was the last member of."""
        self.forget(socket)
        async with self._lock:
            await self._discard_forgotten()

    def forget(self, socket):
        """Drop a socket at once, without waiting (also when its application was cancelled): the
        sweep no longer writes to it. Groups it leaves empty are left on the channel layer by
        ``leave_all``, or else by the next ``join`` or ``leave`` (until then their events are
        dropped on arrival: no member)."""
        self.listeners.pop(socket, None)
        for group in [g for g, sockets in self.members.items() if socket in sockets]:
            self.members[group].discard(socket)
            if not self.members[group]:
                del self.members[group]
                self.forgotten.add(group)

    async def _discard_forgotten(self):
        """Leave the layer groups that ``forget`` emptied and nobody has joined since (under the
        lock)."""
        groups, self.forgotten = self.forgotten, set()
        for group in groups:
            if self.members.get(group) or not (self.use_layer and self.channel):
                continue
            try:
                await self.layer.group_discard(group, self.channel)
            except Exception:
                logger.warning("could not leave group %s", group, exc_info=True)

    # --- delivery ------------------------------------------------------------------------------
    def dispatch(self, events):
        """Queue events for the sweep (called in the loop)."""
        if not events or self.closed:
            return
        self.pending.extend(events)
        self._wake.set()
        if self._fanout is None or self._fanout.done():
            self._fanout = self.loop.create_task(self._sweeps(), name="encompass-event-fanout")

    async def _sweeps(self):
        loop = self.loop
        while True:
            await self._wake.wait()
            self._wake.clear()
            began = loop.time()
            try:
                await self.sweep()
            except Exception:  # one bad event must not stop delivery for the process
                logger.exception("event fan-out sweep failed")
            spent = loop.time() - began
            await asyncio.sleep(min(spent * SWEEP_GAP_RATIO, SWEEP_GAP_MAX))

    async def sweep(self):
        """Hand every listening socket what it may see from its cursor to the end of the log."""
        # the previous sweep's are written or held by sockets
        self.frames, self.runs, self.stretches = {}, {}, {}
        self.absorb()
        listeners = list(self.listeners)
        for start in range(0, len(listeners), SWEEP_CHUNK):
            if start:
                await asyncio.sleep(0)  # requests, handshakes and the reader's events get a turn
                self.absorb()
            end = self.base + len(self.log)
            for socket in listeners[start : start + SWEEP_CHUNK]:
                cursor = socket.hub_cursor
                if cursor >= end or socket not in self.listeners:
                    continue
                socket.hub_cursor = end
                run = self._run_for(socket.audience, cursor, end)
                if run is None:
                    continue
                try:
                    socket.take(run)
                except Exception:  # one broken socket must not hold up the others
                    logger.exception("handing events to a websocket failed")
        self._trim()

    def absorb(self):
        """Move newly arrived events into the log (each once, encoded once)."""
        events, self.pending = self.pending, []
        for data in events:
            event_id = data["id"]
            if event_id in self.recent:
                continue
            self.recent[event_id] = None
            if len(self.recent) > _RECENT:
                self.recent.popitem(last=False)
            groups = frozenset(group for group in groups_for(data) if group in self.members)
            if data.get("kind") == "membership.changed":
                user = (data.get("payload") or {}).get("user")
                for socket in list(self.members.get(user_group(user), ())):
                    socket.access_changed()
            if any(not group.startswith("user.") for group in groups):
                self.log.append(Item(data, groups))

    def _run_for(self, audience, cursor, end):
        """What an audience (sockets subscribed to ``groups``, with ``reach``) may see of the log
        between two positions, in log order: one shared :class:`Run` (None when nothing)."""
        key = (audience, cursor, end)
        if key in self.stretches:
            return self.stretches[key]
        groups, reach = audience
        items = [
            item
            for item in self.log[max(cursor - self.base, 0) : end - self.base]
            if not groups.isdisjoint(item.groups) and reach.sees(item.data)
        ]
        run = self.stretches[key] = self.run(items) if items else None
        return run

    def run(self, items):
        """The sweep's shared :class:`Run` of these items (one per distinct list of events)."""
        key = tuple(item.id for item in items)
        run = self.runs.get(key)
        if run is None:
            run = self.runs[key] = Run(items)
        return run

    def _trim(self):
        """Forget the part of the log every listener has been handed."""
        if not self.log:
            return
        end = self.base + len(self.log)
        lowest = min((socket.hub_cursor for socket in self.listeners), default=end)
        if lowest > self.base:
            del self.log[: lowest - self.base]
            self.base = lowest

    def shared_frame(self, run):
        """The ``events`` frame for a run of (id, body) going through sockets' outboxes: sockets
        that get the same run in a sweep share one string, built once."""
        key = tuple(event_id for event_id, _ in run)
        frame = self.frames.get(key)
        if frame is None:
            frame = self.frames[key] = events_frame([body for _, body in run])
        return frame

    def dispatch_threadsafe(self, events):
        if self.loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self.dispatch(events)
        else:
            self.loop.call_soon_threadsafe(self.dispatch, events)

    async def _ensure_reader(self):
        if self.reader is not None and self.reader.is_alive():
            return
        ready = concurrent.futures.Future()
        self.reader = threading.Thread(
            target=asyncio.run, args=(self._read(ready),), name="encompass-event-hub", daemon=True
        )
        self.reader.start()
        self.channel = await asyncio.wrap_future(ready)

    async def _read(self, ready):
        """The layer reader, in a thread of its own with its own loop and layer connection: it
        keeps pulling events while this process's loop is busy writing to sockets, and what it
        pulled meanwhile goes out in the sweep. (In the web loop, each event took a
        Redis round trip that had to wait for a whole sweep of writes.)"""
        layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
        try:
            channel = await layer.new_channel("hub.")
        except Exception as exc:
            if not ready.done():
                ready.set_exception(exc)
            return
        self._reader_loop = asyncio.get_running_loop()
        self._reader_task = asyncio.current_task()
        if not ready.done():
            ready.set_result(channel)
        while not self.loop.is_closed():
            try:
                message = await layer.receive(channel)
            except asyncio.CancelledError:
                return
            except Exception:
                logger.warning("channel layer receive failed; retrying", exc_info=True)
                with contextlib.suppress(RuntimeError):  # the web loop is gone
                    self.loop.call_soon_threadsafe(self._layer_failed)
                await asyncio.sleep(1)
                continue
            if message.get("type") == BATCH_MESSAGE:
                try:
                    self.loop.call_soon_threadsafe(self.dispatch, message.get("events") or [])
                except RuntimeError:  # the web loop is gone
                    return

    async def close(self):
        """Stop delivering (the server is shutting down): the fan-out task and the layer reader."""
        self.closed = True
        for task in (self._fanout, self._watcher):
            if task is not None and not task.done():
                task.cancel()
                await asyncio.wait([task])
        self._fanout = self._watcher = None
        self.stop()

    def stop(self):
        """Stop the layer reader (a new loop got a new hub)."""
        loop, task = self._reader_loop, self._reader_task
        if loop is not None and task is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # its loop just ended
                loop.call_soon_threadsafe(task.cancel)

    # --- outages -------------------------------------------------------------------------------
    def _layer_failed(self):
        """The reader's connection failed: whatever Redis held (our group memberships) may be
        gone when it answers again."""
        self.layer_lost = True

    def _ensure_watcher(self):
        if self.closed or (self._watcher is not None and not self._watcher.done()):
            return
        self._watcher = self.loop.create_task(self._watch(), name="encompass-event-hub-watch")

    async def _watch(self):
        """Every few seconds: is the layer whole (re-join and resync when it was lost)? Every
        ``ACCESS_RECHECK_SECONDS``: does every socket's user still reach what it did?"""
        loop = self.loop
        last_recheck = loop.time()
        while not self.closed:
            await asyncio.sleep(_setting("LAYER_CHECK_SECONDS", 2.0))
            if not self.members and not self.listeners:
                continue
            try:
                if self.use_layer:
                    await self.check_layer()
                if loop.time() - last_recheck >= _setting("ACCESS_RECHECK_SECONDS", 60.0):
                    last_recheck = loop.time()
                    await self.recheck_access()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database or Redis may be restarting; look again later
                logger.warning("event hub health check failed", exc_info=True)

    def _sentinel(self):
        return f"{self.layer.prefix}:hub-alive:{self.channel}"

    async def check_layer(self):
        """Probe the layer. Redis that lost our sentinel key (restarted empty, flushed, failed
        over) lost our group memberships too: re-join every group, tell every socket to
        ``resync`` from the last id known delivered, and re-check every socket's access."""
        if self.channel is None:
            with contextlib.suppress(Exception):
                await self._ensure_reader()
            if self.channel is None:
                self.layer_lost = True
                return
        key = self._sentinel()
        try:
            connection = self.layer.connection(self.layer.consistent_hash(key))
            present = await connection.get(key)
        except Exception:
            if not self.layer_lost:
                logger.warning("channel layer unreachable; live pushes wait for it")
            self.layer_lost = True
            return
        refresh = self.loop.time() - self._joined_at > self.layer.group_expiry / 2
        if present is None or self.layer_lost or refresh:
            lost = self.layer_lost or present is None
            if not await self._rejoin():
                self.layer_lost = True
                return
            await connection.set(key, b"1", ex=max(60, int(self.layer.group_expiry)))
            self.layer_lost = False
            if lost and self.mark is not None:
                self.rejoined += 1
                logger.warning(
                    "channel layer came back without our groups: re-joined %d, resync from %s",
                    len(self.members),
                    self.mark,
                )
                self._resync_all(self.mark)
        # Whole now. The mark a resync starts from lags one check behind, so an event that was
        # on its way through Redis when it went down is replayed too.
        highest = await database_sync_to_async(_highest_event_id)()
        self.mark, self._next_mark = (
            (self._next_mark if self._next_mark is not None else highest),
            highest,
        )

    async def _rejoin(self):
        """Join every group this process's sockets are in again (group_add is idempotent; it also
        renews channels_redis' group expiry)."""
        async with self._lock:
            groups = list(self.members)
            try:
                for group in groups:
                    await self.layer.group_add(group, self.channel)
            except Exception:
                logger.warning("re-joining channel-layer groups failed", exc_info=True)
                return False
        self._joined_at = self.loop.time()
        return True

    def _resync_all(self, since):
        sockets = {s for members in self.members.values() for s in members}
        for socket in sockets:
            try:
                if socket in self.listeners:
                    socket.layer_resync(since)
                socket.access_changed()
            except Exception:
                logger.exception("telling a websocket to resync failed")

    async def recheck_access(self):
        """Re-read each user's reach (once per user) and have every socket whose reach changed
        re-check its subscriptions: a permission change reaches open sockets within
        ``ACCESS_RECHECK_SECONDS`` even when its ``membership.changed`` push was lost."""
        by_user = defaultdict(list)
        for members in list(self.members.values()):
            for socket in members:
                user = getattr(socket, "user", None)
                if user is not None:
                    by_user[user.pk].append(socket)
        for sockets in by_user.values():
            sockets = list(dict.fromkeys(sockets))
            reach = await database_sync_to_async(_reach_of)(sockets[0].user)
            for socket in sockets:
                if socket.reach != reach:
                    socket.access_changed()


def _setting(name, default):
    return float(settings.ENCOMPASS.get(name, default))


def _highest_event_id():
    return Event.objects.order_by("-id").values_list("id", flat=True).first() or 0


def _reach_of(user):
    return Reach.of(user)


def events_frame(bodies, replay=False):
    flag = ',"replay":true' if replay else ""
    if len(bodies) == 1:
        return '{"type":"event","event":' + bodies[0] + flag + "}"
    return '{"type":"events","events":[' + ",".join(bodies) + "]" + flag + "}"


_hub = {"hub": None}


def get_hub(create=True):
    """This process's hub, bound to the running loop (a new loop -- e.g. a new test -- gets a new
    one)."""
    hub = _hub["hub"]
    if hub is not None and not hub.loop.is_closed():
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            return hub
        if hub.loop is running:
            return hub
        if not create:
            return hub
    if not create:
        return None
    if _hub["hub"] is not None:
        _hub["hub"].stop()
    hub = Hub(asyncio.get_running_loop())
    _hub["hub"] = hub
    return hub


def local_hub():
    """The hub, if this process runs websockets (None in workers, commands and plain requests)."""
    hub = _hub["hub"]
    if hub is None or hub.loop.is_closed():
        return None
    return hub
