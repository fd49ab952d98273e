"""The websocket at ``/ws/events/``: subscribe to scopes you may see, replay, then live.

Protocol (docs/realtime.md):

* client → ``{"type": "subscribe", "scope": "organization"|"site"|"device", "id": <pk>,
  "since": <last event id seen, or null>}``; ``{"type": "unsubscribe", "scope", "id"}``;
  ``{"type": "ping"}``.
* server → ``{"type": "subscribed", "scope", "id", "replayed": n}`` then the replayed events, then
  ``{"type": "replay_truncated", "scope", "id", "next": <id>}`` when more were missing than
  ``ENCOMPASS["REPLAY_LIMIT"]`` (ask again with ``since = next``); live
  ``{"type": "event", "event": {...}}`` -- or, on a socket opened with ``?batch=1``,
  ``{"type": "events", "events": [...]}`` for events that go out together;
  ``{"type": "error", "reason": ...}``;
  ``{"type": "unsubscribed", "scope", "id", "reason"}`` when access is withdrawn;
  ``{"type": "resync", "since": <id>}`` when this socket fell behind and events were dropped
  (re-subscribe with that ``since``).

Every subscription is authorized with ``.restrict(user, "view")`` (missing and forbidden give the
same error) and every delivered event is checked against the user's reach, so a site-narrowed
member subscribed to the organization sees only their sites' events. A ``membership.changed``
event for the socket's user re-checks everything.
"""

import asyncio
import contextvars
import json
import logging
from collections import deque
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from .groups import (
    Reach,
    device_group,
    organization_group,
    serialize_event,
    site_group,
    user_group,
)
from .hub import events_frame, get_hub
from .models import Event
from .tailer import ensure_tailer_started
from .visibility import late_condition
from .wire import text_frame, wire_for

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_SECOND_FACTOR = 4403
MAX_MESSAGE_BYTES = 4096
MAX_SUBSCRIPTIONS = 100
# Ids this socket was sent, so a replay and the live stream never show an event twice. Between
# half of this (or of twice REPLAY_LIMIT, so a whole replay counts) and all of it are remembered:
# ~35-70 MB for 1,000 sockets; 5,000 in an OrderedDict was ~420 MB.
_SENT_MEMORY = 2000
BATCH_FRAME_EVENTS = 200  # replayed events per {"type": "events"} frame
# With a direct frame writer (python -m encompass.server): once this many bytes wait unsent for
# a client, its events queue in its bounded outbox instead (and overflow into a resync), and the
# sender writes again when fewer than WIRE_LOW_WATER are left.
WIRE_HIGH_WATER = 256 * 1024
WIRE_LOW_WATER = 64 * 1024
# Besides ENCOMPASS["WEBSOCKET_QUEUE_SIZE"] entries (a run of events that arrived together is
# one), a socket's outbox holds at most this many events before it overflows into a resync:
# more than an ingest batch, so a client that keeps up never sees one. The events themselves
# are shared with every other socket that got them.
OUTBOX_EVENTS = 5000


def _wants_batches(scope):
    """``/ws/events/?batch=1``: the client understands ``{"type": "events", "events": [...]}``."""
    query = parse_qs((scope.get("query_string") or b"").decode("latin-1"))
    return (query.get("batch") or ["0"])[-1] in ("1", "true")


def _scope_models():
    from devices.models import Device
    from encompass.tenancy.models import Organization, Site

    return {
        "organization": (Organization, organization_group, "organization_id"),
        "site": (Site, site_group, "site_id"),
        "device": (Device, device_group, "device_id"),
    }


def _sender_ended(task):
    """A socket's sender ends when the socket does; if it failed, say so when it happens."""
    if not task.cancelled() and task.exception() is not None:
        logger.error("websocket sender failed", exc_info=task.exception())


class EventConsumer(AsyncWebsocketConsumer):
    # Sockets never join channel-layer groups themselves: the process hub does it once for all.
    channel_layer_alias = "encompass-no-per-socket-layer"

    async def connect(self):
        user = self.scope.get("user")
        # Accept first so the close code reaches the client (a refused handshake has none).
        await self.accept()
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        # One trip to the database thread for everything the handshake needs.
        reach = await database_sync_to_async(self._admit)(user)
        if reach is None:
            await self.close(code=CLOSE_SECOND_FACTOR)
            return
        self.user = user
        self.subscriptions = {}  # (scope, id) -> group
        self.sent = {}
        self.sent_max = 0
        self.sent_memory = max(_SENT_MEMORY, 2 * settings.ENCOMPASS["REPLAY_LIMIT"])
        self.outbox = deque()
        self.outbox_events = 0
        self.outbox_size = max(1, settings.ENCOMPASS["WEBSOCKET_QUEUE_SIZE"])
        self.held = []  # live runs that arrived while a subscription's replay was being read
        self.ready = asyncio.Event()
        self.overflowed_since = None
        self.batch = _wants_batches(self.scope)
        self.wire = wire_for(self.scope)
        self.sending = False
        self.subscribing = 0
        self.reach = reach
        self._set_audience()
        self.hub = get_hub()
        await self.hub.join(user_group(user.pk), self)
        self.sender = asyncio.get_running_loop().create_task(
            self._send_loop(), name="encompass-websocket-sender"
        )
        self.sender.add_done_callback(_sender_ended)
        ensure_tailer_started()

    def _admit(self, user):
        """The user's reach, or None when the session lacks a required second factor."""
        if self._needs_second_factor(user):
            return None
        return Reach.of(user)

    def _needs_second_factor(self, user):
        from django_otp import DEVICE_ID_SESSION_KEY
        from django_otp.models import Device as OTPDevice

        from encompass.tenancy.mfa import requires_second_factor

        if not requires_second_factor(user):
            return False
        session = self.scope.get("session")
        from encompass.sso.session import session_mfa

        if session_mfa(session):
            return False  # the identity provider vouched for a second factor (amr/acr)
        persistent_id = session.get(DEVICE_ID_SESSION_KEY) if session is not None else None
        device = OTPDevice.from_persistent_id(persistent_id) if persistent_id else None
        return device is None or device.user_id != user.pk

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Also when the server cancels this socket without a ``websocket.disconnect`` (it
            # does at shutdown, and when a closed socket's application is slow to end): the hub
            # stops writing to it at once, and the sender ends with it.
            hub = getattr(self, "hub", None)
            if hub is not None:
                hub.forget(self)
            await self._stop_sender()

    async def disconnect(self, code):
        await self._stop_sender()
        hub = getattr(self, "hub", None)
        if hub is not None:
            await hub.leave_all(self)

    async def _stop_sender(self):
        sender = getattr(self, "sender", None)
        if sender is not None and not sender.done():
            sender.cancel()
            # the sender ends on its own cancellation; this task's own is not swallowed
            await asyncio.wait([sender])

    # --- client messages -----------------------------------------------------------------------
    async def receive(self, text_data=None, bytes_data=None):
        if not hasattr(self, "user"):
            return
        if text_data is None or len(text_data) > MAX_MESSAGE_BYTES:
            return await self._error("Send JSON text messages of at most 4 KB.")
        try:
            message = json.loads(text_data)
        except ValueError:
            return await self._error("Not valid JSON.")
        if not isinstance(message, dict):
            return await self._error("Send a JSON object.")
        kind = message.get("type")
        if kind == "subscribe":
            return await self._subscribe(message)
        if kind == "unsubscribe":
            return await self._unsubscribe(message)
        if kind == "ping":
            return self._enqueue_control({"type": "pong"})
        return await self._error(
            f"Unknown message type {kind!r}; use subscribe, unsubscribe or ping."
        )

    def _parse_scope(self, message):
        scope, pk = message.get("scope"), message.get("id")
        if scope not in ("organization", "site", "device"):
            return None, "scope must be organization, site or device."
        if isinstance(pk, bool) or not isinstance(pk, int) or pk < 1:
            return None, "id must be a positive integer (the primary key)."
        return (scope, pk), None

    async def _subscribe(self, message):
        key, problem = self._parse_scope(message)
        since = message.get("since")
        if (
            problem is None
            and since is not None
            and (isinstance(since, bool) or not isinstance(since, int) or since < 0)
        ):
            problem = "since must be null or the last event id you saw."
        if problem:
            return await self._error(problem, scope=message.get("scope"), id=message.get("id"))
        if key not in self.subscriptions and len(self.subscriptions) >= MAX_SUBSCRIPTIONS:
            return await self._error(f"At most {MAX_SUBSCRIPTIONS} subscriptions per socket.")
        allowed = await database_sync_to_async(self._may_view)(key)
        if not allowed:
            return await self._error("No such scope, or not yours to see.", scope=key[0], id=key[1])
        scope, pk = key
        group = _scope_models()[scope][1](pk)
        # Until the replay is queued, live events are held, then queued behind it: the client
        # sees "subscribed", the replay, then live events, and the replay (sent first) makes
        # the held events it already contains go unsent.
        self.subscribing += 1
        try:
            if key not in self.subscriptions:
                self.subscriptions[key] = group
                self._set_audience()
                await self.hub.join(group, self)
            replay, truncated_at = [], None
            if since is not None:
                replay, truncated_at = await database_sync_to_async(self._replay)(key, since)
            self._enqueue_control(
                {"type": "subscribed", "scope": scope, "id": pk, "replayed": len(replay)}
            )
            if replay:
                self._enqueue_batch(replay)
            if truncated_at is not None:
                self._enqueue_control(
                    {"type": "replay_truncated", "scope": scope, "id": pk, "next": truncated_at}
                )
        finally:
            self.subscribing -= 1
            if not self.subscribing:
                held, self.held = self.held, []
                for run in held:
                    self._put(("run", None, run))

    async def _unsubscribe(self, message):
        key, problem = self._parse_scope(message)
        if problem:
            return await self._error(problem)
        group = self.subscriptions.pop(key, None)
        self._set_audience()
        if group is not None and group not in self.subscriptions.values():
            await self.hub.leave(group, self)
        self._enqueue_control({"type": "unsubscribed", "scope": key[0], "id": key[1]})

    def _may_view(self, key):
        scope, pk = key
        model = _scope_models()[scope][0]
        return model.objects.restrict(self.user, "view").filter(pk=pk).exists()

    def _replay(self, key, since):
        scope, pk = key
        field = _scope_models()[scope][2]
        limit = settings.ENCOMPASS["REPLAY_LIMIT"]
        events = Event.objects.restrict(self.user, "view").filter(**{field: pk})
        rows = list(
            events.filter(id__gt=since).select_related("device").order_by("id")[: limit + 1]
        )
        truncated_at = None
        if len(rows) > limit:
            rows = rows[:limit]
            truncated_at = rows[-1].pk
        # PostgreSQL: the rows just below `since` that committed after it did -- a client that
        # saw `since` can have missed them (it ignores ids it has). Read beside the newer ones so
        # they never hold back `next`.
        late = late_condition(since, settings.ENCOMPASS.get("REPLAY_LATE_WINDOW", 10_000))
        if late is not None:
            rows = [
                *events.filter(late).select_related("device").order_by("id")[:limit],
                *rows,
            ]
        return [serialize_event(row) for row in rows], truncated_at

    async def _error(self, reason, **extra):
        self._enqueue_control({"type": "error", "reason": reason, **extra})

    # --- access changes ------------------------------------------------------------------------
    async def _recheck(self):
        self.reach = await database_sync_to_async(Reach.of)(self.user)
        self._set_audience()
        for key in list(self.subscriptions):
            if not await database_sync_to_async(self._may_view)(key):
                group = self.subscriptions.pop(key)
                self._set_audience()
                if group not in self.subscriptions.values():
                    await self.hub.leave(group, self)
                self._enqueue_control(
                    {
                        "type": "unsubscribed",
                        "scope": key[0],
                        "id": key[1],
                        "reason": "Your access to this scope was withdrawn.",
                    }
                )

    # --- delivery (called by the hub, in the event loop) ----------------------------------------
    # The outbox holds, in order: ("run", None, run) live events, encoded once by the hub and
    # shared; ("replay", None, [(id, body), ...]) one replay; ("control", None, text);
    # ("resync", None, None).
    def _set_audience(self):
        """Sockets with equal subscriptions and reach get the same events: the hub works out what
        such an audience sees once per sweep."""
        self.audience = (frozenset(self.subscriptions.values()), self.reach)

    def access_changed(self):
        """A ``membership.changed`` event for this socket's user: re-check everything."""
        # A fresh context: the push may come from inside an async_to_sync call whose thread
        # executor ends before the re-check runs.
        asyncio.get_running_loop().create_task(self._recheck(), context=contextvars.Context())

    def layer_resync(self, since):
        """The channel layer lost this process's groups (a Redis restart): events stored after
        ``since`` may not have come. Ask the client to replay from there (it ignores ids it
        has)."""
        if self.overflowed_since is None or since < self.overflowed_since:
            self.overflowed_since = since
        self._put(("resync", None, None))

    def take(self, run):
        """The hub's sweep hands this socket its next events (already filtered by subscription and
        reach): written now when nothing is queued before them, else queued in order."""
        if self.subscribing:
            self.held.append(run)
            return
        wire = self.wire
        if wire is not None and not (self.outbox or self.sending):
            if run.min_id <= self.sent_max:  # maybe sent already (by a replay)
                items = [item for item in run.items if item.id not in self.sent]
                if not items:
                    return
                if len(items) < len(run.items):
                    run = self.hub.run(items)
            # Written now, unless the client is behind (then its bounded outbox takes them).
            if wire.write(run.wire(self.batch), WIRE_HIGH_WATER):
                self._remember(run.ids, run.max_id)
                return
        self._put(("run", None, run))

    def _enqueue_control(self, message):
        self._put(("control", None, json.dumps(message)))

    def _enqueue_batch(self, events):
        bodies = [(e["id"], json.dumps(e, separators=(",", ":"))) for e in events]
        self._put(("replay", None, bodies))

    def _put(self, item):
        kind, _, body = item
        events = len(body.items) if kind == "run" else len(body) if kind == "replay" else 0
        if len(self.outbox) >= self.outbox_size or self.outbox_events + events > OUTBOX_EVENTS:
            self._overflow(item)
        else:
            self.outbox.append(item)
            self.outbox_events += events
        self.ready.set()

    def _overflow(self, item):
        """Too slow a reader: drop what is queued and ask the client to replay the gap."""
        dropped = [*self.outbox, item]
        self.outbox.clear()
        self.outbox_events = 0
        lowest = self.overflowed_since + 1 if self.overflowed_since is not None else None
        controls = []
        for kind, _, body in dropped:
            if kind == "replay":
                ids = [replayed_id for replayed_id, _ in body]
            elif kind == "control":
                controls.append(body)
                ids = []
            elif kind == "run":
                ids = list(body.ids)
            else:
                ids = []
            for dropped_id in ids:
                if dropped_id not in self.sent and (lowest is None or dropped_id < lowest):
                    lowest = dropped_id
        keep = min(5, self.outbox_size - 1)  # the last few control answers, and the resync
        for text in controls[-keep:] if keep > 0 else []:
            self.outbox.append(("control", None, text))
        if lowest is not None:
            self.overflowed_since = lowest - 1
            self.outbox.append(("resync", None, None))

    async def _send_loop(self):
        """This socket's sender: writes everything queued since it last ran, in order (after the
        client has taken most of what was written before, when the server lets us see that)."""
        try:
            while True:
                await self.ready.wait()
                self.ready.clear()
                self.sending = True
                try:
                    await self._drained()
                    items, self.outbox = self.outbox, deque()
                    self.outbox_events = 0
                    for text in self._frames(items):
                        await self._deliver(text)
                finally:
                    self.sending = False
        except asyncio.CancelledError:
            pass

    async def _drained(self):
        """Wait while the client is behind; meanwhile its events queue in the bounded outbox."""
        wire = self.wire
        if wire is None:
            return
        while wire.backlog() > WIRE_LOW_WATER and wire.open:
            await asyncio.sleep(0.05)

    def _frames(self, items):
        """The frames for outbox items: live events one per frame, or -- for a socket that asked
        for batches -- consecutive ones in one ``{"type": "events"}`` frame."""
        run = []
        for kind, _, body in items:
            if kind == "run":
                for item in body.items:
                    if self._first_time(item.id):
                        if self.batch:
                            run.append((item.id, item.body))
                        else:
                            yield item.text
                continue
            if run:
                yield self.hub.shared_frame(run)
                run = []
            if kind == "control":
                yield body
            elif kind == "resync":
                since, self.overflowed_since = self.overflowed_since, None
                yield json.dumps({"type": "resync", "since": since})
            elif kind == "replay":
                fresh = [text for replayed_id, text in body if self._first_time(replayed_id)]
                if self.batch:
                    for start in range(0, len(fresh), BATCH_FRAME_EVENTS):
                        yield events_frame(fresh[start : start + BATCH_FRAME_EVENTS], True)
                else:
                    for text in fresh:
                        yield '{"type":"event","event":' + text + ',"replay":true}'
        if run:
            yield self.hub.shared_frame(run)

    def _first_time(self, event_id):
        if event_id in self.sent:
            return False
        self._remember({event_id: None}, event_id)
        return True

    def _remember(self, ids, highest):
        self.sent.update(ids)
        if highest > self.sent_max:
            self.sent_max = highest
        if len(self.sent) > self.sent_memory:
            # Keep the newer half: a plain dict is half an OrderedDict's size, and trimming in
            # halves keeps the cost per event constant.
            self.sent = dict.fromkeys(list(self.sent)[self.sent_memory // 2 :])

    async def _deliver(self, text):
        """Where a queued frame leaves (live events written by ``take`` leave there)."""
        if self.wire is not None and self.wire.write(text_frame(text.encode())):
            return
        await self.send(text_data=text)
