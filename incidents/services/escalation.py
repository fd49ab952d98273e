"""From alerts to incidents: by hand (``escalate_alerts``) or by rule (``run_escalation_rules``)."""

import logging

from django.db import transaction

from encompass.audit.services import record_audit
from encompass.exceptions import NotPermitted, ValidationError
from encompass.tenancy.access import has_access

from ..choices import SEVERITY_RANK, Category, IncidentSeverity, Phase, TimelineKind
from ..models import EscalationRule, Incident
from .common import add_timeline, ensure_incident_permitted, lock_incident, publish
from .incidents import declare_incident

logger = logging.getLogger(__name__)
ESCALATION_JOB = "job:incident-escalation"


def _highest(severities):
    return max(severities, key=lambda s: SEVERITY_RANK[IncidentSeverity(s)])


@transaction.atomic
def escalate_alerts(
    alerts,
    *,
    actor,
    incident=None,
    title=None,
    severity=None,
    category=Category.OTHER,
    system=False,
    rule=None,
):
    """Link ``alerts`` to ``incident`` (or to a new one declared from them) and return it.

    A new incident is refused while one of the alerts belongs to an open incident (one incident
    per alert, also when two people escalate it at the same moment). Open alerts are acknowledged
    by the person escalating; their devices and sites become affected. Every alert must be in one
    organization -- the incident's.
    """
    from devices.monitoring.choices import AlertStatus
    from devices.monitoring.models import Alert
    from devices.monitoring.services import acknowledge_alert

    alerts = list(alerts)
    if not alerts:
        raise ValidationError({"alerts": "Choose at least one alert."})
    orgs = {a.organization_id for a in alerts}
    if len(orgs) != 1:
        raise ValidationError({"alerts": "Alerts of different organizations cannot be combined."})
    if not system:
        for alert in alerts:
            if not has_access(actor, alert, "escalate"):
                raise NotPermitted(f"You may not escalate alert {alert.pk}.")
    alerts = list(
        Alert.objects.select_for_update(of=("self",))
        .select_related("device", "site", "organization")
        .filter(pk__in=[a.pk for a in alerts])
        .order_by("pk")
    )
    organization = alerts[0].organization
    if incident is None:
        # Checked under the alerts' row locks: of two people escalating the same alert at once,
        # the second sees the first's incident here instead of declaring another one.
        for alert in alerts:
            held = alert.incidents.exclude(phase=Phase.CLOSED).order_by("pk").first()
            if held is not None:
                raise ValidationError(
                    {
                        "alerts": f"Alert #{alert.pk} is already escalated to {held.reference}; "
                        "escalate it into that incident instead."
                    }
                )
        if severity is None:
            severity = _highest([a.severity for a in alerts])
        if not title:
            title = (
                alerts[0].title
                if len(alerts) == 1
                else f"{alerts[0].title} (+{len(alerts) - 1} alerts)"
            )
        incident = declare_incident(
            organization=organization,
            title=title[:300],
            severity=severity,
            category=category,
            actor=actor,
            detected_at=min(a.first_seen_at for a in alerts),
            system=system,
            escalation_rule=rule,
        )
    else:
        if incident.organization_id != organization.pk:
            raise ValidationError(
                {"incident": "The alerts and the incident are in different organizations."}
            )
        ensure_incident_permitted(actor, "change", incident, system=system)
    locked = lock_incident(incident)
    if locked.phase == Phase.CLOSED:
        raise ValidationError(
            {"incident": "The incident is closed; reopen it or declare a new one."}
        )
    already = set(locked.source_alerts.values_list("pk", flat=True))
    linked = [a for a in alerts if a.pk not in already]
    if not linked:
        raise ValidationError({"alerts": "These alerts are already linked to this incident."})
    locked.source_alerts.add(*linked)
    devices = [a.device for a in linked if a.device_id]
    locked.affected_devices.add(*devices)
    locked.affected_sites.add(*{a.site_id for a in linked if a.site_id})
    for alert in linked:
        acknowledged = False
        if (
            not system
            and alert.status == AlertStatus.OPEN
            and has_access(actor, alert, "acknowledge")
        ):
            acknowledge_alert(alert, actor=actor, note=f"Escalated to incident {locked.reference}")
            acknowledged = True
        add_timeline(
            locked,
            TimelineKind.ALERT,
            f"Linked alert #{alert.pk} ({alert.get_severity_display().lower()}): {alert.title}"
            + (" — acknowledged" if acknowledged else ""),
            actor=actor,
            data={
                "alert": alert.pk,
                "kind": alert.kind,
                "severity": alert.severity,
                "device": alert.device.uid if alert.device_id else None,
                "acknowledged": acknowledged,
            },
        )
    record_audit(
        "incidents.incident.escalate",
        actor=actor,
        obj=locked,
        changes={"alerts": [a.pk for a in linked], "rule": rule.pk if rule else None},
    )
    publish("incident.alerts_linked", locked, alerts=[a.pk for a in linked])
    return locked


def _matching_alerts(rule):
    from devices.monitoring.choices import AlertStatus
    from devices.monitoring.models import Alert

    wanted = [
        s
        for s in IncidentSeverity.values
        if SEVERITY_RANK[s] >= SEVERITY_RANK[rule.min_alert_severity]
    ]
    qs = Alert.objects.filter(
        organization_id=rule.organization_id,
        status=AlertStatus.OPEN,
        severity__in=wanted,
        first_seen_at__gte=rule.created_at,
        incidents__isnull=True,
    )
    if rule.alert_kind_prefix:
        qs = qs.filter(kind__startswith=rule.alert_kind_prefix)
    return qs


def _apply_rule(rule, alert_pk):
    """Escalate one alert under ``rule``; ``None`` when another run got there first."""
    from devices.monitoring.models import Alert

    with transaction.atomic():
        alert = (
            Alert.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk=alert_pk)
            .first()
        )
        if alert is not None and alert.incidents.exists():
            alert = None  # escalated by a run that committed first
        if alert is None:
            return None
        # One incident per rule and device while it is open: repeats extend it.
        open_incident = None
        if alert.device_id:
            open_incident = (
                Incident.objects.filter(escalation_rule=rule, affected_devices=alert.device_id)
                .exclude(phase=Phase.CLOSED)
                .order_by("-pk")
                .first()
            )
        if open_incident is not None:
            return escalate_alerts(
                [alert], actor=ESCALATION_JOB, incident=open_incident, system=True, rule=rule
            )
        incident = escalate_alerts(
            [alert],
            actor=ESCALATION_JOB,
            title=f"{alert.title}",
            severity=rule.incident_severity or alert.severity,
            category=rule.category,
            system=True,
            rule=rule,
        )
        if rule.playbook_id:
            from .playbooks import apply_playbook

            apply_playbook(incident, rule.playbook, actor=ESCALATION_JOB, system=True)
        from .notifications import notify_security_officers

        notify_security_officers(
            incident,
            subject=f"[{incident.reference}] declared automatically: {incident.title}",
            body=f"Rule “{rule.name}” declared {incident.reference} from alert #{alert.pk}.",
        )
        return incident


def run_escalation_rules():
    """Scan new open alerts against every enabled rule; safe to run twice (and concurrently)."""
    escalated = 0
    for rule in EscalationRule.objects.filter(enabled=True).select_related("playbook"):
        for alert_pk in _matching_alerts(rule).order_by("pk").values_list("pk", flat=True)[:500]:
            try:
                if _apply_rule(rule, alert_pk) is not None:
                    escalated += 1
            except ValidationError:
                logger.exception(
                    "escalation rule %s could not escalate alert %s", rule.pk, alert_pk
                )
    return escalated
