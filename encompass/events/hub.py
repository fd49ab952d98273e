"""The per-process fan-out hub between the channel layer and this process's websockets.

A websocket does not join channel-layer groups itself. The process's hub joins each group once
(when the first local socket wants it) and hands every event to the local sockets that asked for
it. So an event crosses Redis once per web process, not once per socket, and its JSON text is
built once and shared by every socket.

Events stored by this process are handed to the hub directly at commit (no round trip); the copy
that comes back through the channel layer is recognised by id and dropped.

Delivery is done in *rounds* by one fan-out task: it takes every event that arrived since the last
round, encodes each once, and appends it to the outbox of each local socket that wants it; each
socket's sender then writes its whole outbox at once (one frame per event, or one
``{"type": "events"}`` frame for sockets that asked for batches). The channel-layer reader runs in
a thread of its own, so while a round of writes keeps the loop busy it keeps pulling events; the
next round carries all of them. Under load events coalesce per socket instead of each one waking
every socket, so the cost per event falls as the load rises.
"""

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import threading
from collections import OrderedDict, defaultdict

from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import InMemoryChannelLayer, channel_layers, get_channel_layer

from .realtime import BATCH_MESSAGE, groups_for

logger = logging.getLogger(__name__)

_RECENT = 20_000


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
        self._wake = asyncio.Event()
        self._fanout = None

    # --- membership ----------------------------------------------------------------------------
    async def join(self, group, socket):
        async with self._lock:
            first = not self.members[group]
            self.members[group].add(socket)
            if first and self.use_layer:
                await self._ensure_reader()
                try:
                    await self.layer.group_add(group, self.channel)
                except Exception:
                    logger.warning("could not join channel-layer group %s", group, exc_info=True)

    async def leave(self, group, socket):
        async with self._lock:
            sockets = self.members.get(group)
            if not sockets:
                return
            sockets.discard(socket)
            if not sockets:
                del self.members[group]
                if self.use_layer and self.channel:
                    try:
                        await self.layer.group_discard(group, self.channel)
                    except Exception:
                        logger.warning("could not leave group %s", group, exc_info=True)

    async def leave_all(self, socket):
        for group in [g for g, sockets in self.members.items() if socket in sockets]:
            await self.leave(group, socket)

    # --- delivery ------------------------------------------------------------------------------
    def dispatch(self, events):
        """Queue events for the next delivery round (called in the loop)."""
        if not events:
            return
        self.pending.extend(events)
        self._wake.set()
        if self._fanout is None or self._fanout.done():
            self._fanout = self.loop.create_task(self._rounds(), name="encompass-event-fanout")

    async def _rounds(self):
        while True:
            await self._wake.wait()
            self._wake.clear()
            events, self.pending = self.pending, []
            try:
                self.deliver(events)
            except Exception:  # one bad event must not stop delivery for the process
                logger.exception("event fan-out round failed")

    def shared_frame(self, run):
        """The ``events`` frame for a run of (id, body): sockets that get the same run in a round
        (the usual case: same subscriptions, same reach) share one string, built once."""
        key = tuple(event_id for event_id, _ in run)
        frame = self.frames.get(key)
        if frame is None:
            frame = self.frames[key] = events_frame([body for _, body in run])
        return frame

    def deliver(self, events):
        """Hand events to the local sockets of their groups, each event once per socket."""
        self.frames = {}  # the previous round's shared frames are written (or held by sockets)
        for data in events:
            event_id = data["id"]
            if event_id in self.recent:
                continue
            self.recent[event_id] = None
            if len(self.recent) > _RECENT:
                self.recent.popitem(last=False)
            targets = set()
            for group in groups_for(data):
                targets |= self.members.get(group, set())
            if not targets:
                continue
            body = json.dumps(data, separators=(",", ":"))
            encoded = (body, '{"type":"event","event":' + body + "}")
            for socket in targets:
                socket.offer(data, encoded)

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
        pulled meanwhile goes out together in the next round. (In the web loop, each event took a
        Redis round trip that had to wait for the previous round of writes.)"""
        layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
        try:
            channel = await layer.new_channel("hub.")
        except Exception as exc:
            ready.set_exception(exc)
            return
        self._reader_loop = asyncio.get_running_loop()
        self._reader_task = asyncio.current_task()
        ready.set_result(channel)
        while not self.loop.is_closed():
            try:
                message = await layer.receive(channel)
            except asyncio.CancelledError:
                return
            except Exception:
                logger.warning("channel layer receive failed; retrying", exc_info=True)
                await asyncio.sleep(1)
                continue
            if message.get("type") == BATCH_MESSAGE:
                try:
                    self.loop.call_soon_threadsafe(self.dispatch, message.get("events") or [])
                except RuntimeError:  # the web loop is gone
                    return

    def stop(self):
        """Stop the layer reader (a new loop got a new hub)."""
        loop, task = self._reader_loop, self._reader_task
        if loop is not None and task is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # its loop just ended
                loop.call_soon_threadsafe(task.cancel)


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
