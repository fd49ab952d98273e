"""Storing many device events at once (device ingest, the MQTT bridge): one statement per batch on
PostgreSQL, ``bulk_create`` elsewhere; each ``(device, event id)`` is stored once."""

from typing import NamedTuple

from django.db import connection

from .choices import EventSource
from .models import Event, EventKey


class DeviceEventRow(NamedTuple):
    """One validated event a device sent, ready to store."""

    event_id: str  # the device's own id for it (de-duplication key per device)
    kind: str
    severity: str
    occurred_at: object  # datetime
    payload: dict
    payload_json: str  # ``payload`` as JSON text (what PostgreSQL casts to jsonb)


# The keys first: a key that is already there (a re-send) returns nothing and its event is not
# inserted; the event table is partitioned by time on PostgreSQL, so it cannot hold the unique
# key itself (encompass/events/partitions.py). ORDER BY keeps the batch's order in the ids (the
# join does not).
_PG_INSERT = """
WITH t AS (
    SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::text[], %s::text[],
        %s::text[], %s::timestamptz[], %s::text[]) WITH ORDINALITY
        AS t(organization_id, site_id, device_id, event_id, kind, severity, occurred_at, payload,
            n)
), k AS (
    INSERT INTO events_eventkey (device_id, event_id, occurred_at)
    SELECT device_id, event_id, occurred_at FROM t
    ON CONFLICT (device_id, event_id) DO NOTHING
    RETURNING device_id, event_id
)
INSERT INTO events_event
    (organization_id, site_id, device_id, kind, source, severity, event_id, occurred_at,
     received_at, payload)
SELECT t.organization_id, t.site_id, t.device_id, t.kind, %s, t.severity, t.event_id,
    t.occurred_at, %s, t.payload::jsonb
FROM t JOIN k ON k.device_id = t.device_id AND k.event_id = t.event_id
ORDER BY t.n
RETURNING id, device_id, event_id
"""


def _insert_postgresql(pending, now):
    """One statement for every device's rows; ``{(device pk, event id): event pk}`` of the new."""
    flat = [(device, row) for device, rows in pending for row in rows]
    with connection.cursor() as cursor:
        cursor.execute(
            _PG_INSERT,
            [
                [d.organization_id for d, _r in flat],
                [d.site_id for d, _r in flat],
                [d.pk for d, _r in flat],
                [r.event_id for _d, r in flat],
                [r.kind for _d, r in flat],
                [r.severity for _d, r in flat],
                [r.occurred_at for _d, r in flat],
                [r.payload_json for _d, r in flat],
                EventSource.DEVICE,
                now,
            ],
        )
        return {(device_id, event_id): pk for pk, device_id, event_id in cursor.fetchall()}


def _insert_generic(device, rows, now):
    ids = [r.event_id for r in rows]
    existing = set()
    for start in range(0, len(ids), 500):
        existing |= set(
            EventKey.objects.filter(
                device=device, event_id__in=ids[start : start + 500]
            ).values_list("event_id", flat=True)
        )
    fresh = [r for r in rows if r.event_id not in existing]
    # A key written meanwhile by another writer fails this insert (the batch's transaction rolls
    # back) instead of storing the event twice.
    EventKey.objects.bulk_create(
        [
            EventKey(device_id=device.pk, event_id=r.event_id, occurred_at=r.occurred_at)
            for r in fresh
        ],
        batch_size=500,
    )
    objs = Event.objects.bulk_create(
        [
            Event(
                organization_id=device.organization_id,
                site_id=device.site_id,
                device_id=device.pk,
                kind=r.kind,
                source=EventSource.DEVICE,
                severity=r.severity,
                event_id=r.event_id,
                occurred_at=r.occurred_at,
                received_at=now,
                payload=r.payload,
            )
            for r in fresh
        ],
        batch_size=500,
    )
    if objs and objs[0].pk is None:
        return dict(
            Event.objects.filter(
                device=device, event_id__in=[r.event_id for r in fresh]
            ).values_list("event_id", "pk")
        )
    return {obj.event_id: obj.pk for obj in objs}


def insert_device_events(pending, *, received_at):
    """Store device events in bulk: ``pending`` is ``[(device, [DeviceEventRow])]``; a row whose
    ``(device, event_id)`` is stored already is skipped. Returns ``{(device pk, event id): event
    pk}`` of the rows stored now. PostgreSQL: one statement for every device's rows."""
    now = received_at
    pending = [(device, rows) for device, rows in pending if rows]
    if not pending:
        return {}
    if connection.vendor == "postgresql":
        return _insert_postgresql(pending, now)
    stored = {}
    for device, rows in pending:
        stored.update(
            ((device.pk, event_id), pk)
            for event_id, pk in _insert_generic(device, rows, now).items()
        )
    return stored
