"""REST: the tenant contract for each endpoint, domain actions per role, cross-tenant refusals."""

import pytest
from rest_framework.test import APIClient

from devices.choices import LifecycleState
from encompass.audit.models import AuditEntry
from encompass.tenancy.roles import Role
from encompass.testing.api import TenantAPIContract
from encompass.testing.factories import make_device, make_user
from encompass.webhooks.models import WebhookEndpoint
from encompass.webhooks.services import create_webhook_endpoint
from incidents.models import (
    EscalationRule,
    Incident,
    Playbook,
    SlaPolicy,
)
from incidents.services import declare_incident

from .conftest import raise_test_alert

pytestmark = pytest.mark.django_db


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


class TestIncidentAPI(TenantAPIContract):
    basename = "incident"
    model = Incident
    deletable = False

    def make(self, world, tenant):
        return declare_incident(
            organization=tenant.org, title="Made", severity="low", actor=tenant.user(Role.ADMIN)
        )

    def create_payload(self, world, tenant):
        return {
            "organization": tenant.org.pk,
            "title": "Gateway beaconing",
            "severity": "high",
            "category": "malware",
        }

    def update_payload(self, world, obj):
        return {"title": "Gateway beaconing to 203.0.113.9", "external_reference": "SEC-42"}


class TestSlaPolicyAPI(TenantAPIContract):
    basename = "slapolicy"
    model = SlaPolicy

    def make(self, world, tenant):
        return SlaPolicy.objects.create(
            organization=tenant.org,
            severity="low",
            acknowledge_minutes=60,
            contain_minutes=120,
            resolve_minutes=600,
        )

    def create_payload(self, world, tenant):
        return {
            "organization": tenant.org.pk,
            "severity": "critical",
            "acknowledge_minutes": 5,
            "contain_minutes": 60,
            "resolve_minutes": 480,
        }

    def update_payload(self, world, obj):
        return {"acknowledge_minutes": 30}


class TestPlaybookAPI(TenantAPIContract):
    basename = "playbook"
    model = Playbook

    def make(self, world, tenant):
        return Playbook.objects.create(
            organization=tenant.org, slug="p", name="P", category="other"
        )

    def create_payload(self, world, tenant):
        return {
            "organization": tenant.org.pk,
            "slug": "ransomware",
            "name": "Ransomware",
            "category": "malware",
        }

    def update_payload(self, world, obj):
        return {"name": "Renamed"}


class TestEscalationRuleAPI(TenantAPIContract):
    basename = "escalationrule"
    model = EscalationRule

    def make(self, world, tenant):
        return EscalationRule.objects.create(organization=tenant.org, name="R", category="other")

    def create_payload(self, world, tenant):
        return {
            "organization": tenant.org.pk,
            "name": "Critical",
            "min_alert_severity": "critical",
            "category": "malware",
        }

    def update_payload(self, world, obj):
        return {"enabled": False}


class TestWebhookEndpointAPI(TenantAPIContract):
    basename = "webhookendpoint"
    model = WebhookEndpoint

    @pytest.fixture(autouse=True)
    def _loopback(self, settings):
        settings.ENCOMPASS = {**settings.ENCOMPASS, "WEBHOOK_ALLOW_PRIVATE_NETWORKS": True}

    def make(self, world, tenant):
        return create_webhook_endpoint(
            organization=tenant.org,
            name="SOAR",
            url="http://127.0.0.1:9/h",
            event_prefixes=["incident."],
            actor=tenant.user(Role.ADMIN),
        )[0]

    def create_payload(self, world, tenant):
        return {
            "organization": tenant.org.pk,
            "name": "SIEM",
            "url": "http://127.0.0.1:9/siem",
            "event_prefixes": ["incident.", "alert."],
        }

    def update_payload(self, world, obj):
        return {"active": False}


def test_webhook_secret_is_shown_once(world, settings):
    settings.ENCOMPASS = {**settings.ENCOMPASS, "WEBHOOK_ALLOW_PRIVATE_NETWORKS": True}
    client = client_for(world.a.user(Role.ADMIN))
    created = client.post(
        "/api/v1/webhook-endpoints/",
        {"name": "SIEM", "url": "http://127.0.0.1:9/x", "event_prefixes": ["incident."]},
        format="json",
    ).json()
    assert created["secret"].startswith("whsec_")
    again = client.get(f"/api/v1/webhook-endpoints/{created['id']}/").json()
    assert again["secret"] is None and again["secret_hint"] == created["secret"][-4:]


def test_phase_action_per_role_and_error_names_the_field(world):
    incident = declare_incident(
        organization=world.a.org, title="x", severity="low", actor=world.a.user(Role.ADMIN)
    )
    url = f"/api/v1/incidents/{incident.pk}/phase/"
    for role, expected in [
        (Role.OPERATOR, 403),
        (Role.AUDITOR, 403),
        (Role.TECHNICIAN, 404),
        (Role.SECURITY_OFFICER, 200),
    ]:
        response = client_for(world.a.user(role)).post(url, {"to": "analysis"}, format="json")
        assert response.status_code == expected, (role, response.content)
    bad = client_for(world.a.user(Role.ADMIN)).post(url, {"to": "closed"}, format="json")
    assert bad.status_code == 400 and "to" in bad.json()
    assert (
        client_for(world.b.user(Role.ADMIN))
        .post(url, {"to": "containment"}, format="json")
        .status_code
        == 404
    )


def test_escalate_via_api_and_cross_tenant_alerts_are_not_found(world):
    officer = world.a.user(Role.SECURITY_OFFICER)
    mine = raise_test_alert(world.a.org, key="m")
    theirs = raise_test_alert(world.b.org, key="t")
    client = client_for(officer)
    response = client.post("/api/v1/incidents/escalate/", {"alerts": [theirs.pk]}, format="json")
    assert response.status_code == 404
    response = client.post(
        "/api/v1/incidents/escalate/", {"alerts": [mine.pk, theirs.pk]}, format="json"
    )
    assert response.status_code == 404
    assert not Incident.objects.exists()
    response = client.post(
        "/api/v1/incidents/escalate/", {"alerts": [mine.pk], "category": "malware"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["source_alerts"] == [mine.pk]


def test_contain_devices_of_another_tenant_is_not_found(world):
    officer = world.a.user(Role.SECURITY_OFFICER)
    incident = declare_incident(organization=world.a.org, title="x", severity="high", actor=officer)
    theirs = make_device(world.b.org, site=world.b.sites[0], state=LifecycleState.DEPLOYED)
    response = client_for(officer).post(
        f"/api/v1/incidents/{incident.pk}/contain/",
        {"kind": "quarantine", "devices": [theirs.pk], "reason": "x"},
        format="json",
    )
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.state == LifecycleState.DEPLOYED


def test_responder_from_elsewhere_sees_and_works_only_that_incident(world):
    officer = world.a.user(Role.SECURITY_OFFICER)
    one = declare_incident(organization=world.a.org, title="one", severity="high", actor=officer)
    other = declare_incident(organization=world.a.org, title="two", severity="high", actor=officer)
    consultant = make_user(username="consultant")
    assert (
        client_for(officer)
        .post(f"/api/v1/incidents/{one.pk}/responders/", {"user": "consultant"}, format="json")
        .status_code
        == 200
    )
    client = client_for(consultant)
    listed = client.get("/api/v1/incidents/").json()["results"]
    assert [row["id"] for row in listed] == [one.pk]
    assert client.get(f"/api/v1/incidents/{other.pk}/").status_code == 404
    note = client.post(
        f"/api/v1/incidents/{one.pk}/notes/", {"text": "Found the dropper"}, format="json"
    )
    assert note.status_code == 201
    assert (
        client.post(
            f"/api/v1/incidents/{one.pk}/phase/", {"to": "analysis"}, format="json"
        ).status_code
        == 403
    )
    # Removing them removes the grant.
    client_for(officer).post(
        f"/api/v1/incidents/{one.pk}/remove-responder/", {"user": "consultant"}, format="json"
    )
    assert client.get(f"/api/v1/incidents/{one.pk}/").status_code == 404


def test_report_download_is_audited(world):
    officer = world.a.user(Role.SECURITY_OFFICER)
    incident = declare_incident(
        organization=world.a.org, title="Tampered meter", severity="medium", actor=officer
    )
    client = client_for(world.a.user(Role.AUDITOR))
    html = client.get(f"/api/v1/incidents/{incident.pk}/report/")
    assert html.status_code == 200 and b"Tampered meter" in html.content
    assert "attachment" in html["Content-Disposition"]
    md = client.get(f"/api/v1/incidents/{incident.pk}/report/?as=md")
    assert md.content.decode().startswith("# Incident report")
    assert client.get(f"/api/v1/incidents/{incident.pk}/report/?as=doc").status_code == 400
    assert (
        AuditEntry.objects.filter(
            action="incidents.incident.export", object_id=str(incident.pk)
        ).count()
        == 2
    )


def test_incident_list_query_count_does_not_grow(world, django_assert_max_num_queries):
    officer = world.a.user(Role.SECURITY_OFFICER)
    device = make_device(world.a.org, site=world.a.sites[0])
    for i in range(6):
        inc = declare_incident(
            organization=world.a.org, title=f"i{i}", severity="low", actor=officer, devices=[device]
        )
        client_for(officer).post(
            f"/api/v1/incidents/{inc.pk}/responders/",
            {"user": world.a.user(Role.OPERATOR).username},
            format="json",
        )
    with django_assert_max_num_queries(14):
        response = client_for(officer).get("/api/v1/incidents/")
    assert response.status_code == 200 and len(response.json()["results"]) == 6


def test_tasks_follow_the_incident_and_playbooks_load(world):
    officer = world.a.user(Role.SECURITY_OFFICER)
    client = client_for(officer)
    loaded = client.post(f"/api/v1/playbooks/load-shipped/?organization={world.a.org.pk}")
    assert loaded.json() == {"created": 4, "updated": 0}
    playbook = Playbook.objects.get(organization=world.a.org, slug="physical-tampering")
    incident = declare_incident(organization=world.a.org, title="x", severity="low", actor=officer)
    tasks = client.post(
        f"/api/v1/incidents/{incident.pk}/apply-playbook/", {"playbook": playbook.pk}, format="json"
    )
    assert tasks.status_code == 201 and len(tasks.json()) == playbook.tasks.count()
    task_id = tasks.json()[0]["id"]
    operator = client_for(world.a.user(Role.OPERATOR))
    done = operator.patch(f"/api/v1/incident-tasks/{task_id}/", {"done": True}, format="json")
    assert done.status_code == 200 and done.json()["done"] is True
    assert (
        client_for(world.b.user(Role.ADMIN)).get(f"/api/v1/incident-tasks/{task_id}/").status_code
        == 404
    )


def test_review_creates_a_risk_and_a_follow_up_action(world):
    officer = world.a.user(Role.SECURITY_OFFICER)
    incident = declare_incident(
        organization=world.a.org, title="Keys in support bundles", severity="high", actor=officer
    )
    client = client_for(officer)
    response = client.post(
        f"/api/v1/incidents/{incident.pk}/risks/",
        {"title": "Device keys exported in support bundles", "likelihood": 3, "impact": 4},
        format="json",
    )
    assert response.status_code == 201, response.content
    from risk.models import Risk

    risk = Risk.objects.get(pk=response.json()["risk"])
    assert risk.organization == world.a.org and incident.reference in risk.source
    missing = client.post(f"/api/v1/incidents/{incident.pk}/risks/", {"title": "x"}, format="json")
    assert missing.status_code == 400 and "likelihood" in missing.json()
    action = client.post(
        f"/api/v1/incidents/{incident.pk}/follow-ups/",
        {"text": "Strip key stores from bundles", "requirement_ref": "ETSI EN 303 645 5.4-1"},
        format="json",
    )
    assert action.status_code == 201 and action.json()["requirement_ref"] == "ETSI EN 303 645 5.4-1"
    assert (
        client_for(world.a.user(Role.OPERATOR))
        .post(
            f"/api/v1/incidents/{incident.pk}/risks/",
            {"title": "x", "likelihood": 1, "impact": 1},
            format="json",
        )
        .status_code
        == 403
    )
