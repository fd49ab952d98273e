"""Web UI pages: scorecard, checks, assessment tree, reports -- tenant-scoped and role-aware."""

import pytest
from django.urls import reverse

from compliance.models import Framework
from compliance.services.assessments import create_assessment
from compliance.services.checks import run_checks
from encompass.audit.models import AuditEntry
from encompass.tenancy.roles import Role
from encompass.testing.web import web

pytestmark = pytest.mark.usefixtures("catalogue")


@pytest.fixture
def assessment(world, fleet):
    a = create_assessment(
        world.a.org,
        framework=Framework.objects.get(code="etsi-en-303-645"),
        name="ETSI review",
        actor=world.a.user(Role.SECURITY_OFFICER),
        start=True,
    )
    run_checks(world.a.org, actor="test", system=True)
    return a


def test_scorecard_checks_and_assessment_pages(world, assessment):
    client = web(world.a.user(Role.AUDITOR))
    page = client.get(reverse("compliance_ui:scorecard"))
    assert page.status_code == 200
    assert b"ETSI review" in page.content and b'id="compliance-trend"' in page.content
    assert client.get(reverse("compliance_ui:scorecard_json")).json()["assessments"][0]["id"] == (
        assessment.pk
    )
    checks = client.get(reverse("compliance_ui:checks"))
    assert b"mfa-privileged" in checks.content and b"Run all checks now" not in checks.content
    tree = client.get(reverse("compliance_ui:assessment", args=[assessment.pk]))
    assert b"5.13-1" in tree.content and b"Add evidence" not in tree.content
    filtered = client.get(
        reverse("compliance_ui:assessment", args=[assessment.pk]), {"obligation": "recommended"}
    )
    assert b"5.13-1" not in filtered.content and b"5.12-3" in filtered.content
    report = client.get(reverse("compliance_ui:report", args=[assessment.pk, "soa"]))
    assert b"Statement of applicability" in report.content


def test_officer_sets_a_result_in_the_web_ui(world, assessment):
    client = web(world.a.user(Role.SECURITY_OFFICER))
    row = assessment.results.get(requirement__ref="5.2-1")
    response = client.post(
        reverse("compliance_ui:set_result", args=[row.pk]),
        {"result": "compliant", "notes": "Published", "justification": ""},
    )
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.result == "compliant"
    bad = client.post(
        reverse("compliance_ui:set_result", args=[row.pk]), {"result": "not_applicable"}
    )
    assert bad.status_code == 302
    row.refresh_from_db()
    assert row.result == "compliant"


def test_other_tenant_pages_are_not_found(world, assessment):
    client = web(world.b.user(Role.AUDITOR))
    assert client.get(reverse("compliance_ui:assessment", args=[assessment.pk])).status_code == 404
    row = assessment.results.first()
    client = web(world.b.user(Role.SECURITY_OFFICER))
    assert (
        client.post(reverse("compliance_ui:set_result", args=[row.pk]), {"result": "compliant"})
    ).status_code == 404


def test_web_export_is_audited(world, assessment):
    client = web(world.a.user(Role.AUDITOR))
    response = client.get(reverse("compliance_ui:export", args=[assessment.pk, "soa", "html"]))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert AuditEntry.objects.filter(
        action="compliance.assessment.export", changes__format="html"
    ).exists()


def test_score_trend_is_a_dated_chart_with_a_line_per_framework(world, assessment):
    """Not a 217x58 px sparkline without dates: one series per assessment, each point dated."""
    import datetime
    import json

    from compliance.models import ScoreSnapshot

    snap = ScoreSnapshot.objects.filter(assessment=assessment, site=None).first()
    assert snap is not None
    ScoreSnapshot.objects.create(
        organization=world.a.org,
        assessment=assessment,
        taken_at=snap.taken_at - datetime.timedelta(days=3),
        reason="daily",
        score=12,
    )
    page = web(world.a.user(Role.AUDITOR)).get(reverse("compliance_ui:scorecard"))
    html = page.content.decode()
    assert "<svg" not in html and "vendor/chartjs/chart.umd.min.js" in html
    data = json.loads(
        html.split('id="compliance-trend-data" type="application/json">')[1].split("<")[0]
    )
    (series,) = data["series"]
    assert series["label"] == f"{assessment.framework} — ETSI review"
    dates = [datetime.datetime.fromisoformat(p[0]) for p in series["points"]]
    assert dates == sorted(dates) and len(dates) >= 2
    assert series["points"][0][1] == 12.0 and series["points"][0][2] == "daily"
