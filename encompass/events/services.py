"""Recording events: persist in the caller's transaction, push on commit."""

from django.db import transaction
from django.utils import timezone

from .choices import EventSource, Severity
from .groups import serialize_event
from .models import Event, EventKey
from .realtime import push


def record_event(
    kind,
    *,
    organization,
    payload=None,
    site=None,
    device=None,
    severity=Severity.INFO,
    source=EventSource.PLATFORM,
    occurred_at=None,
    event_id=None,
):
    """Store a platform (or device) event and schedule its push for when the transaction commits."""
    if device is not None and site is None:
        site = device.site
    event = Event.objects.create(
        organization=organization,
        site=site,
        device=device,
        kind=kind,
        source=source,
        severity=severity,
        event_id=event_id,
        occurred_at=occurred_at,
        received_at=timezone.now(),
        payload=payload or {},
    )
    if device is not None and event_id is not None:
        # The device's id for the event is stored once (a repeat fails here, as it always did).
        EventKey.objects.create(
            device=device, event_id=event_id, occurred_at=event.occurred_at or event.received_at
        )
    data = serialize_event(event)
    transaction.on_commit(lambda: push([data]))
    return event


def publish_events(events):
    """Schedule the push of events written in bulk (e.g. by device ingest) for commit time."""
    data = [serialize_event(e) for e in events]
    transaction.on_commit(lambda: push(data))
