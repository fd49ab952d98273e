"""REST: alert rules (contract), alerts (read + acknowledge / resolve per role), query counts."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from devices.monitoring.choices import AlertStatus, RuleKind
from devices.monitoring.models import Alert, AlertRule
from devices.monitoring.services import raise_alert
from encompass.tenancy.access import allowed_roles
from encompass.tenancy.roles import Role
from encompass.testing.api import ROLES, TenantAPIContract
from encompass.testing.factories import make_device

pytestmark = pytest.mark.django_db


class TestAlertRuleAPI(TenantAPIContract):
    basename = "alert-rule"
    model = AlertRule

    def make(self, world, tenant):
        return AlertRule.objects.create(
            organization=tenant.org,
            name=f"Hot {AlertRule.objects.count()}",
            kind=RuleKind.THRESHOLD,
            metric="temp_c",
            comparison="gt",
            threshold=80,
        )

    def create_payload(self, world, tenant):
        return {
            "organization": tenant.org.pk,
            "name": "Too hot",
            "kind": "threshold",
            "metric": "temp_c",
            "comparison": "gt",
            "threshold": 75,
            "severity": "high",
        }

    def update_payload(self, world, obj):
        return {"threshold": 90}


def test_rule_create_names_missing_fields(world):
    client = APIClient()
    client.force_authenticate(world.a.user(Role.OPERATOR))
    response = client.post(
        reverse("alert-rule-list"),
        {"organization": world.a.org.pk, "name": "x", "kind": "threshold"},
        format="json",
    )
    assert response.status_code == 400
    assert {"metric", "comparison", "threshold"} <= set(response.json())
    assert not AlertRule.objects.exists()


def _alert(tenant, n=0):
    device = make_device(tenant.org, site=tenant.sites[0])
    alert, _ = raise_alert(
        organization=tenant.org,
        kind="test",
        title=f"Test {n}",
        severity="high",
        dedupe_key=f"test:{device.pk}:{n}",
        device=device,
    )
    return alert


def _client(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_alerts_are_read_only_and_tenant_scoped(world):
    mine, theirs = _alert(world.a), _alert(world.b)
    client = _client(world.a.user(Role.AUDITOR))
    ids = {row["id"] for row in client.get(reverse("alert-list")).json()["results"]}
    assert mine.pk in ids and theirs.pk not in ids
    assert client.get(reverse("alert-detail", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("alert-list"), {}, format="json").status_code == 405
    assert client.delete(reverse("alert-detail", args=[mine.pk])).status_code == 405


@pytest.mark.parametrize("role", ROLES)
def test_acknowledge_and_resolve_by_role(world, role):
    alert = _alert(world.a)
    client = _client(world.a.user(role))
    ack = client.post(
        reverse("alert-acknowledge", args=[alert.pk]), {"note": "looking"}, format="json"
    )
    alert.refresh_from_db()
    if role in allowed_roles(Alert, "acknowledge"):
        assert ack.status_code == 200, ack.content
        assert alert.status == AlertStatus.ACKNOWLEDGED
    else:
        assert ack.status_code == 403
        assert alert.status == AlertStatus.OPEN
    res = client.post(
        reverse("alert-resolve", args=[alert.pk]), {"resolution": "fixed the fan"}, format="json"
    )
    alert.refresh_from_db()
    if role in allowed_roles(Alert, "resolve"):
        assert res.status_code == 200, res.content
        assert alert.status == AlertStatus.RESOLVED and alert.resolution == "fixed the fan"
    else:
        assert res.status_code == 403
        assert alert.status != AlertStatus.RESOLVED


def test_actions_on_other_tenant_are_not_found(world):
    theirs = _alert(world.b)
    client = _client(world.a.user(Role.ADMIN))
    assert (
        client.post(reverse("alert-acknowledge", args=[theirs.pk]), {}, format="json").status_code
        == 404
    )
    assert (
        client.post(
            reverse("alert-resolve", args=[theirs.pk]), {"resolution": "x"}, format="json"
        ).status_code
        == 404
    )


def test_resolve_requires_a_resolution_and_twice_is_refused(world):
    alert = _alert(world.a)
    client = _client(world.a.user(Role.OPERATOR))
    assert (
        "resolution"
        in client.post(reverse("alert-resolve", args=[alert.pk]), {}, format="json").json()
    )
    assert (
        client.post(
            reverse("alert-resolve", args=[alert.pk]), {"resolution": "done"}, format="json"
        ).status_code
        == 200
    )
    again = client.post(
        reverse("alert-resolve", args=[alert.pk]), {"resolution": "done"}, format="json"
    )
    assert again.status_code == 400 and "status" in again.json()


def test_list_query_counts_do_not_grow(world, django_assert_max_num_queries):
    client = _client(world.a.user(Role.OPERATOR))
    for n in range(3):
        _alert(world.a, n)
    with django_assert_max_num_queries(8) as few:
        client.get(reverse("alert-list"))
        client.get(reverse("event-list"))
        client.get(reverse("alert-rule-list"))
    for n in range(3, 15):
        _alert(world.a, n)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(reverse("alert-list"))
        client.get(reverse("event-list"))
        client.get(reverse("alert-rule-list"))
