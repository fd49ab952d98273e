"""Alerts: raise (deduplicated), acknowledge, resolve.

``raise_alert`` is what every part of the platform calls when something needs attention
(alert rules, certificate expiry, firmware downgrade, SLA breach ...).
"""

from django.db import IntegrityError, transaction
from django.utils import timezone

from encompass.audit.services import record_audit
from encompass.events.choices import Severity
from encompass.events.services import record_event
from encompass.exceptions import ValidationError
from encompass.tenancy.access import ensure_permitted

from .choices import AlertSeverity, AlertSource, AlertStatus
from .models import Alert

EVENT_SEVERITY = {
    AlertSeverity.LOW: Severity.NOTICE,
    AlertSeverity.MEDIUM: Severity.WARNING,
    AlertSeverity.HIGH: Severity.ERROR,
    AlertSeverity.CRITICAL: Severity.CRITICAL,
}


def _alert_payload(alert):
    return {
        "alert": alert.pk,
        "kind": alert.kind,
        "title": alert.title,
        "severity": alert.severity,
        "status": alert.status,
        "count": alert.count,
        "last_seen_at": alert.last_seen_at.isoformat() if alert.last_seen_at else None,
        "device": alert.device.uid if alert.device_id else None,
    }


def raise_alert(
    *,
    organization,
    kind,
    title,
    severity,
    dedupe_key,
    device=None,
    site=None,
    details=None,
    source=AlertSource.PLATFORM,
    actor="system",
):
    """Open an alert, or count a repeat of the open one with the same ``dedupe_key``.

    Returns ``(alert, created)``. Safe under concurrency: two racing raises of the same cause
    end as one alert with count 2.
    """
    if severity not in AlertSeverity.values:
        raise ValidationError({"severity": f"Unknown severity {severity!r}."})
    if device is not None and site is None:
        site = device.site
    for _attempt in range(3):
        try:
            with transaction.atomic():
                return _raise_once(
                    organization,
                    kind,
                    title,
                    severity,
                    dedupe_key,
                    device,
                    site,
                    details or {},
                    source,
                    actor,
                )
        except IntegrityError:
            continue  # a concurrent raise created it first; count this one as a repeat
    raise RuntimeError("could not raise alert after concurrent retries")


def _raise_once(
    organization, kind, title, severity, dedupe_key, device, site, details, source, actor
):
    now = timezone.now()
    existing = (
        Alert.objects.select_for_update()
        .filter(organization=organization, dedupe_key=dedupe_key)
        .exclude(status=AlertStatus.RESOLVED)
        .first()
    )
    if existing is not None:
        existing.count += 1
        existing.last_seen_at = now
        existing.details = {**existing.details, **details}
        existing.title = title
        existing.save(update_fields=["count", "last_seen_at", "details", "title", "updated_at"])
        record_event(
            "alert.repeated",
            organization=organization,
            device=device,
            site=site,
            severity=EVENT_SEVERITY[existing.severity],
            payload=_alert_payload(existing),
        )
        return existing, False
    alert = Alert.objects.create(
        organization=organization,
        site=site,
        device=device,
        source=source,
        kind=kind,
        severity=severity,
        title=title[:300],
        details=details,
        dedupe_key=dedupe_key[:200],
        first_seen_at=now,
        last_seen_at=now,
    )
    record_audit(
        "monitoring.alert.raise",
        actor=actor,
        obj=alert,
        changes={"kind": kind, "severity": severity, "dedupe_key": dedupe_key},
    )
    record_event(
        "alert.raised",
        organization=organization,
        device=device,
        site=site,
        severity=EVENT_SEVERITY[severity],
        payload=_alert_payload(alert),
    )
    return alert, True


@transaction.atomic
def acknowledge_alert(alert, *, actor, note=""):
    ensure_permitted(actor, "acknowledge", alert)
    locked = Alert.objects.select_for_update().get(pk=alert.pk)
    if locked.status != AlertStatus.OPEN:
        raise ValidationError(
            {
                "status": f"Only open alerts can be acknowledged; this one is "
                f"{locked.get_status_display().lower()}."
            }
        )
    locked.status = AlertStatus.ACKNOWLEDGED
    locked.acknowledged_at = timezone.now()
    locked.acknowledged_by = actor
    locked.save(update_fields=["status", "acknowledged_at", "acknowledged_by", "updated_at"])
    record_audit("monitoring.alert.acknowledge", actor=actor, obj=locked, changes={"note": note})
    record_event(
        "alert.acknowledged",
        organization=locked.organization,
        device=locked.device,
        site=locked.site,
        payload=_alert_payload(locked),
    )
    return locked


@transaction.atomic
def resolve_alert(alert, *, actor, resolution="", system=False):
    """Resolve by a person (``actor``) or automatically (``system=True``, condition cleared)."""
    if not system:
        ensure_permitted(actor, "resolve", alert)
    locked = Alert.objects.select_for_update().get(pk=alert.pk)
    if locked.status == AlertStatus.RESOLVED:
        raise ValidationError({"status": "This alert is already resolved."})
    locked.status = AlertStatus.RESOLVED
    locked.resolved_at = timezone.now()
    locked.resolved_by = None if system else actor
    locked.auto_resolved = system
    locked.resolution = resolution
    locked.save(
        update_fields=[
            "status",
            "resolved_at",
            "resolved_by",
            "auto_resolved",
            "resolution",
            "updated_at",
        ]
    )
    record_audit(
        "monitoring.alert.resolve",
        actor=actor,
        obj=locked,
        changes={"resolution": resolution, "automatic": system},
    )
    record_event(
        "alert.resolved",
        organization=locked.organization,
        device=locked.device,
        site=locked.site,
        payload=_alert_payload(locked),
    )
    return locked


def resolve_open_alerts(organization_id, dedupe_keys, *, actor, resolution):
    """Resolve, automatically, the organization's open alerts with these dedupe keys (another app
    saw their condition clear: identity when a certificate is revoked). Returns how many."""
    open_alerts = Alert.objects.filter(
        organization_id=organization_id, dedupe_key__in=list(dedupe_keys)
    ).exclude(status=AlertStatus.RESOLVED)
    resolved = 0
    for alert in open_alerts:
        resolve_alert(alert, actor=actor, resolution=resolution, system=True)
        resolved += 1
    return resolved
