"""The event-table tailer of the embedded default.

Without a shared channel layer (no ``REDIS_URL``) an event stored by another process -- the
django-q2 worker, the fleet simulator's requests served elsewhere, a management command -- would
never reach the sockets of the web process. So the web process tails the ``Event`` table a few
times a second and pushes, through its own in-memory layer, every id it has not pushed itself.

Ids are allocated at insert and become visible at commit, so a lower id can appear after a higher
one. The tailer therefore remembers the ids it skipped over ("gaps") for a few seconds and asks
for them again; a gap that never fills was a rolled-back insert. Clients de-duplicate by id, so an
event pushed by both paths is shown once.

It starts lazily, with the first websocket connection of the process, when
``settings.EVENT_TAIL_ENABLED`` is true (the default without Redis; off in tests unless a test
turns it on).
"""

import asyncio
import logging
import time

from channels.db import database_sync_to_async
from django.conf import settings
from django.db.models import Max, Q

from .groups import serialize_event
from .models import Event
from .realtime import apush, pushed_here

logger = logging.getLogger(__name__)


class EventTailer:
    """Finds events stored since the last poll (by any process) that this process has not pushed."""

    def __init__(self, *, batch=500, gap_ttl=10.0, max_gaps=20_000, gap_window=5000):
        self.batch = batch
        self.gap_window = gap_window
        self.gap_ttl = gap_ttl
        self.max_gaps = max_gaps
        self.high_water = None
        self.empty_start = False
        self.gaps = {}  # event id -> monotonic time it was first missed

    def start_from_now(self):
        top = Event.objects.aggregate(top=Max("id"))["top"]
        self.high_water = top or 0
        # An empty table gives no position in the id sequence: wait for no ids below the first
        # rows that appear.
        self.empty_start = top is None

    def poll(self):
        """One look at the table: serialized events this process has not pushed yet."""
        if self.high_water is None:
            self.start_from_now()
            return []
        now = time.monotonic()
        query = Q(id__gt=self.high_water)
        if self.gaps:
            query |= Q(id__in=list(self.gaps))
        rows = list(
            Event.objects.filter(query).select_related("device").order_by("id")[: self.batch]
        )
        found = {row.pk for row in rows}
        for event_id in found:
            self.gaps.pop(event_id, None)
        new_ids = [pk for pk in found if pk > self.high_water]
        new_top = max(new_ids, default=self.high_water)
        # Late commits come from concurrent inserts, so they sit close to what we just saw: only
        # ids within gap_window below the new rows are worth waiting for (this also keeps a
        # start on an empty table, whose ids begin far above 0, from waiting for ids that
        # will never exist).
        floor = max(self.high_water, min(new_ids, default=new_top) - self.gap_window - 1)
        if self.empty_start and new_ids:
            floor, self.empty_start = min(new_ids), False
        for missing in range(floor + 1, new_top):
            if missing not in found and len(self.gaps) < self.max_gaps:
                self.gaps[missing] = now
        self.high_water = new_top
        for event_id, first_missed in list(self.gaps.items()):
            if now - first_missed > self.gap_ttl:
                del self.gaps[event_id]  # a rolled-back insert, or deleted before we saw it
        return [serialize_event(row) for row in rows if row.pk not in pushed_here]

    async def run(self, interval):
        while True:
            try:
                messages = await database_sync_to_async(self.poll)()
                if messages:
                    await apush(messages)
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be restarting; keep tailing
                logger.warning("event tailer poll failed", exc_info=True)
            await asyncio.sleep(interval)


_state = {"task": None, "loop": None}


def ensure_tailer_started():
    """Start the tailer in the running event loop once per process (no-op when disabled)."""
    if not getattr(settings, "EVENT_TAIL_ENABLED", False):
        return None
    loop = asyncio.get_running_loop()
    task = _state["task"]
    if task is not None and _state["loop"] is loop and not task.done():
        return task
    interval = float(settings.ENCOMPASS.get("EVENT_TAIL_INTERVAL", 0.25))
    _state["task"] = loop.create_task(EventTailer().run(interval), name="encompass-event-tailer")
    _state["loop"] = loop
    return _state["task"]


def stop_tailer():
    task = _state["task"]
    if task is not None:
        task.cancel()
    _state["task"] = None
    _state["loop"] = None
