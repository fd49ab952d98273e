"""Alert -> incident from the monitoring UI: the alerts page and the dashboard's open alerts offer
"Escalate to incident" to the roles that may escalate and link alerts already escalated."""

import pytest
from django.urls import reverse

from devices.monitoring.models import Alert
from devices.monitoring.services import raise_alert
from encompass.tenancy.roles import Role
from encompass.testing.web import web
from incidents.models import Incident
from incidents.services import escalate_alerts

pytestmark = pytest.mark.django_db

ESCALATORS = {Role.ADMIN, Role.SECURITY_OFFICER}


def _alert(tenant, key="fan", title="Fan failed"):
    alert, _ = raise_alert(
        organization=tenant.org, kind="t", title=title, severity="high", dedupe_key=key
    )
    return alert


@pytest.mark.parametrize("role", list(Role))
def test_alerts_page_offers_escalation_per_role(world, role):
    alert = _alert(world.a)
    page = web(world.a.user(role)).get(reverse("monitoring_ui:alerts")).content.decode()
    assert "Fan failed" in page
    escalate = reverse("incidents_ui:escalate")
    assert ("Escalate to incident" in page) == (role in ESCALATORS)
    assert (f'action="{escalate}"' in page) == (role in ESCALATORS)
    if role in ESCALATORS:
        assert f'name="alerts" value="{alert.pk}"' in page


@pytest.mark.parametrize("role", list(Role))
def test_dashboard_alerts_carry_escalation_per_role(world, role):
    _alert(world.a)
    client = web(world.a.user(role))
    live = client.get(reverse("monitoring_ui:dashboard")).context["live"]
    assert live["canEscalate"] is (role in ESCALATORS)
    assert live["escalateUrl"] == reverse("incidents_ui:escalate")
    assert [a["can_escalate"] for a in live["alerts"]] == [role in ESCALATORS]
    counts = client.get(reverse("monitoring_ui:counts")).json()
    assert [a["can_escalate"] for a in counts["alerts"]] == [role in ESCALATORS]


def test_escalating_from_the_alerts_page_links_the_incident(world):
    officer = world.a.user(Role.SECURITY_OFFICER)
    alert = _alert(world.a)
    client = web(officer)
    response = client.post(reverse("incidents_ui:escalate"), {"alerts": [alert.pk]})
    incident = Incident.objects.get(source_alerts=alert)
    assert response.status_code == 302
    assert response["Location"] == reverse("incidents_ui:detail", args=[incident.pk])

    page = client.get(reverse("monitoring_ui:alerts")).content.decode()
    assert incident.reference in page
    assert reverse("incidents_ui:detail", args=[incident.pk]) in page
    assert "Escalate to incident" not in page  # already escalated: the link instead
    for user in (officer, world.a.user(Role.AUDITOR)):  # every member who can see it
        live = web(user).get(reverse("monitoring_ui:dashboard")).context["live"]
        assert [a["incident"] for a in live["alerts"]] == [
            {
                "reference": incident.reference,
                "url": reverse("incidents_ui:detail", args=[incident.pk]),
            }
        ]
        assert [a["can_escalate"] for a in live["alerts"]] == [False]


def test_other_tenant_sees_and_escalates_nothing(world):
    alert = _alert(world.a)
    escalate_alerts([alert], actor=world.a.user(Role.SECURITY_OFFICER))
    outsider = web(world.b.user(Role.SECURITY_OFFICER))
    page = outsider.get(reverse("monitoring_ui:alerts")).content.decode()
    assert "Fan failed" not in page and "INC-" not in page
    assert outsider.get(reverse("monitoring_ui:dashboard")).context["live"]["alerts"] == []

    other = _alert(world.a, key="door", title="Door open")
    outsider.post(reverse("incidents_ui:escalate"), {"alerts": [other.pk]})
    assert not Incident.objects.filter(source_alerts=other).exists()
    assert not Incident.objects.filter(organization=world.b.org).exists()
    other.refresh_from_db()
    assert other.status == "open"


def test_operator_cannot_escalate_by_posting(world):
    alert = _alert(world.a)
    web(world.a.user(Role.OPERATOR)).post(reverse("incidents_ui:escalate"), {"alerts": [alert.pk]})
    assert not Incident.objects.filter(source_alerts=alert).exists()
    assert Alert.objects.get(pk=alert.pk).status == "open"


def test_alerts_page_queries_do_not_grow_with_escalated_alerts(
    world, django_assert_max_num_queries
):
    officer = world.a.user(Role.SECURITY_OFFICER)
    client = web(officer)
    alerts = [_alert(world.a, key=f"k{n}", title=f"Alert {n}") for n in range(12)]
    for alert in alerts[:6]:
        escalate_alerts([alert], actor=officer)
    client.get(reverse("monitoring_ui:alerts"))
    with django_assert_max_num_queries(20):
        response = client.get(reverse("monitoring_ui:alerts"))
    assert response.content.decode().count("Escalate to incident") == 6
