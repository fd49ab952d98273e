"""Device health from heartbeats: online / late / offline / never seen.

A device is *online* when it was last seen within 1.5 heartbeat intervals of its type, *late*
within 3, *offline* beyond; *unknown* when it never reported. Ingest marks a device online as it
reports; the ``monitoring.health`` job (every minute) ages the rest. Every change of health is an
event ``device.health_changed`` (one per device and change).
"""

import datetime

from django.db import transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from devices.choices import ACTIVE_STATES, Health
from devices.models import Device, DeviceType
from encompass.events.choices import EventSource, Severity
from encompass.events.models import Event
from encompass.events.services import publish_events, record_event

ONLINE_FACTOR = 1.5
LATE_FACTOR = 3.0
HEALTH_SEVERITY = {
    Health.ONLINE: Severity.INFO,
    Health.LATE: Severity.NOTICE,
    Health.OFFLINE: Severity.WARNING,
    Health.UNKNOWN: Severity.INFO,
}


def health_for(last_seen_at, heartbeat_interval, now):
    if last_seen_at is None:
        return Health.UNKNOWN
    age = (now - last_seen_at).total_seconds()
    if age <= ONLINE_FACTOR * heartbeat_interval:
        return Health.ONLINE
    if age <= LATE_FACTOR * heartbeat_interval:
        return Health.LATE
    return Health.OFFLINE


def _payload(before, after, last_seen_at):
    return {
        "from": before,
        "to": after,
        "last_seen_at": last_seen_at.isoformat() if last_seen_at else None,
    }


def mark_seen(device, now):
    """Record that ``device`` reported at ``now`` (inside the ingest transaction)."""
    updates = {"last_seen_at": now}
    changed = device.health != Health.ONLINE
    if changed:
        updates["health"] = Health.ONLINE
    Device.objects.filter(pk=device.pk).update(**updates)
    before = device.health
    device.last_seen_at = now
    device.health = Health.ONLINE
    if changed:
        record_event(
            "device.health_changed",
            organization=device.organization,
            device=device,
            payload=_payload(before, Health.ONLINE, now),
        )


def mark_many_seen(devices, now):
    """``mark_seen`` for several devices in two statements: one UPDATE, one bulk insert of the
    ``device.health_changed`` events of those that were not online."""
    if not devices:
        return
    Device.objects.filter(pk__in=[d.pk for d in devices]).update(
        last_seen_at=now, health=Health.ONLINE
    )
    changed = [d for d in devices if d.health != Health.ONLINE]
    received = timezone.now()
    events = [
        Event(
            organization_id=d.organization_id,
            site_id=d.site_id,
            device_id=d.pk,
            kind="device.health_changed",
            source=EventSource.PLATFORM,
            severity=Severity.INFO,
            received_at=received,
            payload=_payload(d.health, Health.ONLINE, now),
        )
        for d in changed
    ]
    for device in devices:
        device.last_seen_at = now
        device.health = Health.ONLINE
    if not events:
        return
    created = Event.objects.bulk_create(events)
    if created[0].pk is None:  # a backend that cannot return ids from bulk inserts
        created = list(
            Event.objects.filter(
                kind="device.health_changed",
                received_at=received,
                device_id__in=[d.pk for d in changed],
            ).order_by("id")
        )
    by_pk = {d.pk: d for d in changed}
    for event in created:
        event.device = by_pk[event.device_id]
    publish_events(created)


@transaction.atomic
def refresh_health(now=None):
    """Age every in-service device's health; returns the number of changes recorded."""
    now = now or timezone.now()
    changes = []
    intervals = DeviceType.objects.filter(
        pk__in=Device.objects.filter(state__in=ACTIVE_STATES, last_seen_at__isnull=False).values(
            "device_type_id"
        )
    ).values_list("pk", "heartbeat_interval")
    for type_pk, interval in intervals:
        online_after = now - datetime.timedelta(seconds=ONLINE_FACTOR * interval)
        late_after = now - datetime.timedelta(seconds=LATE_FACTOR * interval)
        expected = Case(
            When(last_seen_at__gte=online_after, then=Value(Health.ONLINE.value)),
            When(last_seen_at__gte=late_after, then=Value(Health.LATE.value)),
            default=Value(Health.OFFLINE.value),
        )
        changes += list(
            Device.objects.select_for_update()
            .filter(state__in=ACTIVE_STATES, device_type_id=type_pk, last_seen_at__isnull=False)
            .annotate(expected=expected)
            .exclude(health=F("expected"))
            .values("pk", "uid", "organization_id", "site_id", "health", "expected", "last_seen_at")
        )
    if not changes:
        return 0
    for target in {c["expected"] for c in changes}:
        Device.objects.filter(pk__in=[c["pk"] for c in changes if c["expected"] == target]).update(
            health=target
        )
    events = Event.objects.bulk_create(
        [
            Event(
                organization_id=c["organization_id"],
                site_id=c["site_id"],
                device_id=c["pk"],
                kind="device.health_changed",
                source=EventSource.PLATFORM,
                severity=HEALTH_SEVERITY[c["expected"]],
                received_at=now,
                payload=_payload(c["health"], c["expected"], c["last_seen_at"]),
            )
            for c in changes
        ]
    )
    if events and events[0].pk is None:  # a backend that cannot return ids from bulk inserts
        events = list(
            Event.objects.filter(kind="device.health_changed", received_at=now).order_by("id")
        )
    uids = {c["pk"]: c["uid"] for c in changes}
    for event in events:
        event.device = Device(pk=event.device_id, uid=uids[event.device_id])
    publish_events(events)
    return len(changes)
