import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from encompass.tenancy.roles import Role
from encompass.testing.web import web
from risk import services
from risk.models import Risk

CHANGELISTS = ["risk", "mitigation", "vulnerability", "asset", "threat", "riskmatrix"]


def staff(user):
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return web(user)


def seed(world, officer, n):
    for i in range(n):
        risk = services.create_risk(
            actor=officer,
            organization=world.a.org,
            title=f"r{i}",
            scenario="s",
            likelihood=2,
            impact=3,
        )
        services.create_mitigation(risk, actor=officer, title="m")
        services.create_vulnerability(
            actor=officer,
            organization=world.a.org,
            identifier=f"CVE-2026-{7000 + Risk.objects.count()}",
            title="v",
            cvss_score=4,
        )


@pytest.mark.parametrize("model", CHANGELISTS)
def test_changelists_are_tenant_scoped_and_flat(
    world, officer, django_assert_max_num_queries, model
):
    client = staff(officer)
    url = reverse(f"admin:risk_{model}_changelist")
    seed(world, officer, 1)
    services.create_risk(
        actor=world.b.user(Role.SECURITY_OFFICER),
        organization=world.b.org,
        title="B hidden",
        scenario="s",
        likelihood=1,
        impact=1,
    )
    response = client.get(url)
    assert response.status_code == 200
    assert "B hidden" not in response.content.decode()
    with CaptureQueriesContext(connection) as ctx:
        client.get(url)
    seed(world, officer, 5)
    with django_assert_max_num_queries(len(ctx.captured_queries)):
        assert client.get(url).status_code == 200


def test_admin_add_goes_through_the_service(world, officer):
    client = staff(officer)
    response = client.post(
        reverse("admin:risk_risk_add"),
        {
            "organization": world.a.org.pk,
            "title": "From the admin",
            "scenario": "s",
            "matrix": services.default_matrix(world.a.org).pk,
            "inherent_likelihood": 5,
            "inherent_impact": 5,
            "treatment": "mitigate",
            "mitigations-TOTAL_FORMS": 0,
            "mitigations-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    risk = Risk.objects.get(title="From the admin")
    assert (risk.reference, risk.inherent_level) == ("RSK-001", "critical")
