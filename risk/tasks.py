"""The register's hourly check: overdue mitigations, overdue reviews, lapsed acceptances.

Raises one alert per cause (``devices.monitoring.services.raise_alert``) and resolves it
automatically once the cause is gone. Running it twice raises nothing new.
"""

from django.utils import timezone

from devices.monitoring.choices import AlertSeverity, AlertSource, AlertStatus
from devices.monitoring.models import Alert
from devices.monitoring.services import raise_alert, resolve_alert

from .choices import (
    ALERT_ACCEPTANCE_EXPIRED,
    ALERT_KINDS,
    ALERT_MITIGATION_OVERDUE,
    ALERT_REVIEW_OVERDUE,
)
from .models import Mitigation, Risk

ACTOR = "job:risk-register"
# The alert severity follows the risk level it concerns.
LEVEL_SEVERITY = {
    "critical": AlertSeverity.HIGH,
    "high": AlertSeverity.MEDIUM,
}


def _severity(level, *, floor=AlertSeverity.LOW):
    found = LEVEL_SEVERITY.get(level, floor)
    order = list(AlertSeverity.values)
    return found if order.index(found) >= order.index(floor) else floor


def _wanted(now, today):
    """``{(organization_id, dedupe_key): alert kwargs}`` for every cause that holds now."""
    wanted = {}
    for m in Mitigation.objects.overdue(today).select_related("risk", "organization"):
        key = f"{ALERT_MITIGATION_OVERDUE}:{m.pk}"
        wanted[(m.organization_id, key)] = {
            "organization": m.organization,
            "kind": ALERT_MITIGATION_OVERDUE,
            "title": f"Mitigation overdue: {m.title} ({m.risk.reference}, due {m.due_on})",
            "severity": _severity(m.risk.current_level),
            "details": {"risk": m.risk.reference, "mitigation": m.pk, "due_on": str(m.due_on)},
        }
    for r in Risk.objects.review_overdue(today).select_related("organization"):
        key = f"{ALERT_REVIEW_OVERDUE}:{r.pk}"
        wanted[(r.organization_id, key)] = {
            "organization": r.organization,
            "kind": ALERT_REVIEW_OVERDUE,
            "title": f"Risk review overdue: {r.reference} {r.title} (due {r.review_due_on})",
            "severity": _severity(r.current_level),
            "details": {"risk": r.reference, "review_due_on": str(r.review_due_on)},
        }
    for r in Risk.objects.acceptance_expired(now).select_related("organization"):
        key = f"{ALERT_ACCEPTANCE_EXPIRED}:{r.pk}"
        wanted[(r.organization_id, key)] = {
            "organization": r.organization,
            "kind": ALERT_ACCEPTANCE_EXPIRED,
            "title": f"Risk acceptance expired: {r.reference} {r.title}",
            "severity": _severity(r.current_level, floor=AlertSeverity.MEDIUM),
            "details": {
                "risk": r.reference,
                "expired_at": r.acceptance_expires_at.isoformat(),
            },
        }
    return wanted


def check_register():
    """Raise what is newly due, resolve what was fixed; returns ``(raised, resolved)``."""
    now = timezone.now()
    wanted = _wanted(now, timezone.localdate())
    open_alerts = {
        (a.organization_id, a.dedupe_key): a
        for a in Alert.objects.filter(kind__in=ALERT_KINDS).exclude(status=AlertStatus.RESOLVED)
    }
    raised = resolved = 0
    for (org_id, key), kwargs in wanted.items():
        if (org_id, key) in open_alerts:
            continue  # already raised and still open: nothing new to say
        raise_alert(dedupe_key=key, source=AlertSource.PLATFORM, actor=ACTOR, **kwargs)
        raised += 1
    for (org_id, key), alert in open_alerts.items():
        if (org_id, key) not in wanted:
            resolve_alert(
                alert, actor=ACTOR, resolution="The condition no longer holds.", system=True
            )
            resolved += 1
    return raised, resolved
