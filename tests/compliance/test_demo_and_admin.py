"""The demo seed's compliance part, and the admin changelists (tenant-scoped, bounded queries)."""

import pytest
from django.urls import reverse

from compliance.models import Framework
from compliance.services.assessments import create_assessment
from encompass.tenancy.roles import Role
from encompass.testing.web import web

pytestmark = pytest.mark.usefixtures("catalogue")


def staff_client(user):
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return web(user)


def _queries(client, url):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        page = client.get(url)
    assert page.status_code == 200
    return len(ctx.captured_queries), page


def test_admin_changelists_are_tenant_scoped(world):
    etsi = Framework.objects.get(code="etsi-en-303-645")
    for tenant in (world.a, world.b):
        create_assessment(
            tenant.org,
            framework=etsi,
            name=f"Review {tenant.org.slug}",
            actor=tenant.user(Role.SECURITY_OFFICER),
        )
    client = staff_client(world.a.user(Role.SECURITY_OFFICER))
    url = reverse("admin:compliance_assessment_changelist")
    few, page = _queries(client, url)
    for n in range(3):
        create_assessment(
            world.a.org, framework=etsi, name=f"More {n}", actor=world.a.user(Role.ADMIN)
        )
    many, _page = _queries(client, url)
    assert many == few  # the query count does not grow with the rows
    assert b"Review tenant-a" in page.content and b"Review tenant-b" not in page.content
    assert client.get(reverse("admin:compliance_requirement_changelist")).status_code == 200


def test_demo_seed_leaves_fixable_failing_checks(world):
    from compliance import demo
    from encompass.demo import DemoContext, DemoOrg

    ctx = DemoContext(
        orgs=[DemoOrg(org=world.a.org, sites=world.a.sites, users=world.a.users)],
        credentials=[],
        log=lambda m: None,
    )
    demo.seed(ctx)
    data = ctx.data["compliance"][world.a.org.slug]
    # No TOTP devices in this world: the privileged members are a visible, fixable failure.
    assert "mfa-privileged" in data["failing_checks"]
    from compliance.models import Assessment

    assessment = Assessment.objects.get(pk=data["assessment"])
    assert assessment.status == "in_progress"
    assert assessment.results.get(requirement__ref="5.8-3").result == "not_applicable"
