"""Escalation from alerts (by hand and by rule) and SLA breach detection."""

import datetime

import pytest
from django.core import mail
from django.utils import timezone

from devices.monitoring.choices import AlertStatus
from devices.monitoring.models import Alert
from encompass.exceptions import NotPermitted, ValidationError
from encompass.tenancy.roles import Role
from incidents.choices import Phase
from incidents.models import EscalationRule, Incident, SlaBreach, SlaPolicy
from incidents.services import (
    change_phase,
    check_sla_breaches,
    escalate_alerts,
    load_shipped_playbooks,
    run_escalation_rules,
)

from .conftest import raise_test_alert

pytestmark = pytest.mark.django_db


def test_escalate_alerts_into_a_new_incident(world, officer, deployed):
    a1 = raise_test_alert(world.a.org, deployed, severity="high", key="k1")
    a2 = raise_test_alert(world.a.org, None, severity="critical", key="k2")
    incident = escalate_alerts([a1, a2], actor=officer, category="malware")
    assert incident.severity == "critical"  # the highest of the alerts
    assert set(incident.source_alerts.all()) == {a1, a2}
    assert incident.affected_devices.filter(pk=deployed.pk).exists()
    a1.refresh_from_db()
    assert a1.status == AlertStatus.ACKNOWLEDGED and a1.acknowledged_by == officer
    assert incident.timeline.filter(kind="alert").count() == 2


def test_escalate_into_an_existing_incident_and_not_twice(world, officer, incident):
    alert = raise_test_alert(world.a.org, key="k3")
    escalate_alerts([alert], actor=officer, incident=incident)
    assert incident.source_alerts.filter(pk=alert.pk).exists()
    with pytest.raises(ValidationError):
        escalate_alerts([alert], actor=officer, incident=incident)


def test_alert_of_another_tenant_cannot_be_escalated(world, officer, incident):
    theirs = raise_test_alert(world.b.org, key="b1")
    with pytest.raises(NotPermitted):
        escalate_alerts([theirs], actor=officer, incident=incident)
    with pytest.raises(ValidationError):  # even by someone allowed on both sides
        escalate_alerts([theirs], actor=world.b.user(Role.ADMIN), incident=incident)
    assert not incident.source_alerts.exists()


def test_operator_cannot_escalate(world):
    alert = raise_test_alert(world.a.org, key="k4")
    with pytest.raises(NotPermitted):
        escalate_alerts([alert], actor=world.a.user(Role.OPERATOR))
    assert not Incident.objects.exists()


def test_rule_escalates_new_alerts_once_with_its_playbook(
    world, deployed, django_capture_on_commit_callbacks
):
    load_shipped_playbooks(world.a.org, actor="test")
    from incidents.models import Playbook

    playbook = Playbook.objects.get(organization=world.a.org, slug="botnet-traffic")
    EscalationRule.objects.create(
        organization=world.a.org,
        name="High security alerts",
        min_alert_severity="high",
        alert_kind_prefix="security.",
        category="denial_of_service",
        playbook=playbook,
    )
    low = raise_test_alert(world.a.org, deployed, severity="low", key="low")
    other = raise_test_alert(world.a.org, deployed, severity="critical", key="o", kind="metric.x")
    hit = raise_test_alert(world.a.org, deployed, severity="high", key="hit")
    with django_capture_on_commit_callbacks(execute=True):
        assert run_escalation_rules() == 1
    assert run_escalation_rules() == 0  # idempotent
    incident = Incident.objects.get()
    assert list(incident.source_alerts.all()) == [hit]
    assert incident.category == "denial_of_service" and incident.playbook == playbook
    assert incident.tasks.count() == playbook.tasks.count() > 0
    assert not low.incidents.exists() and not other.incidents.exists()
    # A second alert on the same device extends the open incident.
    again = raise_test_alert(world.a.org, deployed, severity="critical", key="hit2")
    assert run_escalation_rules() == 1
    assert Incident.objects.count() == 1
    assert incident.source_alerts.filter(pk=again.pk).exists()
    # Security officers were told.
    assert any("declared automatically" in m.subject for m in mail.outbox)


def test_sla_breaches_are_flagged_once_with_alert_and_email(
    world, incident, officer, django_capture_on_commit_callbacks
):
    SlaPolicy.objects.create(
        organization=world.a.org,
        severity="high",
        acknowledge_minutes=10,
        contain_minutes=60,
        resolve_minutes=600,
    )
    assert check_sla_breaches() == []
    later = timezone.now() + datetime.timedelta(minutes=11)
    with django_capture_on_commit_callbacks(execute=True):
        [breach] = check_sla_breaches(now=later)
    assert breach.metric == "acknowledge"
    assert check_sla_breaches(now=later) == []  # once
    alert = Alert.objects.get(pk=breach.alert_id)
    assert alert.kind == "incident.sla_breach" and alert.source == "incident"
    assert alert.severity == "high"
    assert any("SLA breached" in m.subject for m in mail.outbox)
    assert world.a.user(Role.SECURITY_OFFICER).email in {a for m in mail.outbox for a in m.to}
    assert incident.timeline.filter(kind="sla").count() == 1
    # Acknowledging stops that clock; containment still runs and breaches later.
    change_phase(incident, Phase.ANALYSIS, actor=officer)
    much_later = timezone.now() + datetime.timedelta(minutes=61)
    assert [b.metric for b in check_sla_breaches(now=much_later)] == ["contain"]
    assert SlaBreach.objects.filter(incident=incident).count() == 2


def test_default_sla_applies_without_a_policy(world, officer):
    from incidents.services import declare_incident

    incident = declare_incident(
        organization=world.a.org, title="Critical", severity="critical", actor=officer
    )
    assert check_sla_breaches(now=timezone.now() + datetime.timedelta(minutes=14)) == []
    [breach] = check_sla_breaches(now=timezone.now() + datetime.timedelta(minutes=16))
    assert breach.incident == incident


def test_sla_policy_refuses_inconsistent_minutes(world):
    policy = SlaPolicy(
        organization=world.a.org,
        severity="low",
        acknowledge_minutes=100,
        contain_minutes=10,
        resolve_minutes=1000,
    )
    with pytest.raises(ValidationError) as err:
        policy.full_clean()
    assert "contain_minutes" in err.value.message_dict
