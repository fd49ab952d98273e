"""SLA clocks per severity, and the job that flags breaches once and escalates them."""

import datetime
import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from encompass.audit.services import record_audit

from ..choices import (
    DEFAULT_SLA_MINUTES,
    SLA_STOP_FIELD,
    IncidentSeverity,
    Phase,
    SlaMetric,
    TimelineKind,
)
from ..models import Incident, SlaBreach, SlaPolicy
from .common import add_timeline, publish

logger = logging.getLogger(__name__)
SLA_JOB = "job:incident-sla"


def sla_minutes(organization_id, severity, policies=None):
    """``{metric: minutes}`` for a severity: the organization's policy, else the defaults."""
    if policies is None:
        policy = SlaPolicy.objects.filter(
            organization_id=organization_id, severity=severity
        ).first()
    else:
        policy = policies.get((organization_id, severity))
    if policy is not None:
        values = (policy.acknowledge_minutes, policy.contain_minutes, policy.resolve_minutes)
    else:
        values = DEFAULT_SLA_MINUTES[IncidentSeverity(severity)]
    return dict(
        zip((SlaMetric.ACKNOWLEDGE, SlaMetric.CONTAIN, SlaMetric.RESOLVE), values, strict=True)
    )


def sla_status(incident, now=None, policies=None):
    """For each metric: due time, when it stopped (if it did), and whether it is/was breached."""
    now = now or timezone.now()
    rows = []
    for metric, minutes in sla_minutes(
        incident.organization_id, incident.severity, policies
    ).items():
        due = incident.declared_at + datetime.timedelta(minutes=minutes)
        stopped = getattr(incident, SLA_STOP_FIELD[metric])
        breached = (stopped or now) > due
        rows.append(
            {
                "metric": metric,
                "label": SlaMetric(metric).label,
                "minutes": minutes,
                "due_at": due,
                "stopped_at": stopped,
                "breached": breached,
                "running": stopped is None and incident.phase != Phase.CLOSED,
            }
        )
    return rows


def _flag(incident, row, now):
    from devices.monitoring.choices import AlertSeverity, AlertSource
    from devices.monitoring.services import raise_alert

    from .notifications import notify_security_officers

    metric = row["metric"]
    try:
        with transaction.atomic():
            breach = SlaBreach.objects.create(
                organization_id=incident.organization_id,
                incident=incident,
                metric=metric,
                due_at=row["due_at"],
                detected_at=now,
            )
            alert, _ = raise_alert(
                organization=incident.organization,
                kind="incident.sla_breach",
                title=f"{incident.reference}: {row['label'].lower()} SLA breached",
                severity=AlertSeverity(incident.severity),
                dedupe_key=f"incident.sla:{incident.pk}:{metric}",
                details={
                    "incident": incident.pk,
                    "metric": metric,
                    "due_at": row["due_at"].isoformat(),
                },
                source=AlertSource.INCIDENT,
                actor=SLA_JOB,
            )
            breach.alert = alert
            breach.save(update_fields=["alert", "updated_at"])
            text = (
                f"SLA breached: {row['label'].lower()} ({row['minutes']} min) "
                f"was due {row['due_at']:%Y-%m-%d %H:%M} UTC"
            )
            add_timeline(
                incident,
                TimelineKind.SLA,
                text,
                actor=SLA_JOB,
                data={"metric": metric, "alert": alert.pk},
            )
            record_audit(
                "incidents.incident.sla_breach",
                actor=SLA_JOB,
                obj=incident,
                changes={"metric": metric, "due_at": row["due_at"].isoformat()},
            )
            publish("incident.sla_breached", incident, metric=metric)
            notify_security_officers(
                incident,
                subject=f"[{incident.reference}] SLA breached: {row['label'].lower()}",
                body=text,
            )
            return breach
    except IntegrityError:
        return None  # another run flagged it first


def check_sla_breaches(now=None):
    """Flag every running SLA clock that ran out, once each; returns the new breaches."""
    now = now or timezone.now()
    policies = {(p.organization_id, p.severity): p for p in SlaPolicy.objects.all()}
    flagged = []
    incidents = (
        Incident.objects.exclude(phase=Phase.CLOSED)
        .select_related("organization")
        .prefetch_related("sla_breaches")
    )
    for incident in incidents.iterator(chunk_size=500):
        done = {b.metric for b in incident.sla_breaches.all()}
        for row in sla_status(incident, now, policies):
            if row["running"] and row["breached"] and row["metric"] not in done:
                breach = _flag(incident, row, now)
                if breach is not None:
                    flagged.append(breach)
    return flagged
