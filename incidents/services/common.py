"""What every incident service shares: the timeline writer, the event publisher, locking."""

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from encompass.audit.services import (
    actor_label,
    user_or_none,
)
from encompass.events.choices import Severity
from encompass.events.services import record_event
from encompass.exceptions import NotPermitted
from encompass.tenancy.access import has_access
from encompass.webhooks.services import queue_deliveries_for_event

from ..choices import IncidentSeverity, TimelineKind
from ..models import Incident, TimelineEntry

User = get_user_model()

EVENT_SEVERITY = {
    IncidentSeverity.LOW: Severity.NOTICE,
    IncidentSeverity.MEDIUM: Severity.WARNING,
    IncidentSeverity.HIGH: Severity.ERROR,
    IncidentSeverity.CRITICAL: Severity.CRITICAL,
}


def ensure_incident_permitted(actor, action, incident, *, system=False):
    """``NotPermitted`` unless ``actor`` may ``action`` this incident (jobs pass ``system``)."""
    if system:
        return
    if not has_access(actor, incident, action):
        raise NotPermitted(f"You may not {action} this incident.")


def lock_incident(incident):
    return Incident.objects.select_for_update().get(pk=incident.pk)


def add_timeline(incident, kind, text, *, actor, data=None, corrects=None, at=None):
    """Append one immutable entry to the incident's timeline."""
    return TimelineEntry.objects.create(
        organization_id=incident.organization_id,
        incident=incident,
        kind=kind,
        at=at or timezone.now(),
        actor=user_or_none(actor),
        actor_label=actor_label(actor)[:200],
        text=text,
        data=data or {},
        corrects=corrects,
    )


def incident_payload(incident, **extra):
    return {
        "incident": incident.pk,
        "reference": incident.reference,
        "title": incident.title,
        "severity": incident.severity,
        "category": incident.category,
        "phase": incident.phase,
        **extra,
    }


def publish(event_kind, incident, *, severity=None, **extra):
    """Record an ``incident.*`` event (pushed to websockets on commit) and queue its webhooks."""
    event = record_event(
        event_kind,
        organization=incident.organization,
        severity=severity or EVENT_SEVERITY[incident.severity],
        payload=incident_payload(incident, **extra),
    )
    queue_deliveries_for_event(event)
    return event


def timeline_and_publish(incident, timeline_kind, text, event_kind, *, actor, data=None):
    entry = add_timeline(incident, timeline_kind, text, actor=actor, data=data)
    publish(event_kind, incident, timeline_entry=entry.pk, text=text)
    return entry


__all__ = [
    "TimelineKind",
    "add_timeline",
    "ensure_incident_permitted",
    "incident_payload",
    "lock_incident",
    "publish",
    "timeline_and_publish",
    "transaction",
    "user_or_none",
]
