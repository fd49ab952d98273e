"""Compliance at fleet scale: check runs store counts and a sample inline and their failing items
as rows, the scorecard reads a fixed number of queries whatever the fleet size, the failing
devices are listed a page at a time, and old runs are pruned."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from compliance.models import CheckFinding, CheckRun, Framework, RequirementResult
from compliance.models.checks import FAILING_SAMPLE
from compliance.services.assessments import create_assessment
from compliance.services.checks import run_checks
from compliance.services.retention import prune_check_runs
from devices.choices import LifecycleState
from devices.models import Device
from encompass.tenancy.roles import Role
from encompass.testing.web import web

pytestmark = pytest.mark.usefixtures("catalogue")


def grow(world, dtype, n, *, silent):
    """``n`` more deployed devices spread over A's sites (bulk: set-up, not lifecycle)."""
    start = Device.objects.count()
    seen = timezone.now() - timedelta(hours=3) if silent else timezone.now()
    Device.objects.bulk_create(
        [
            Device(
                organization=world.a.org,
                site=world.a.sites[i % len(world.a.sites)],
                device_type=dtype,
                manufacturer=dtype.manufacturer,
                state=LifecycleState.DEPLOYED,
                serial_number=f"GROW-{start + i}",
                name=f"grown-{start + i:05d}",
                token_hash=f"{start + i + 10_000:064x}",
                last_seen_at=seen,
            )
            for i in range(n)
        ]
    )


@pytest.fixture
def assessments(world, fleet):
    officer = world.a.user(Role.SECURITY_OFFICER)
    return [
        create_assessment(
            world.a.org,
            framework=Framework.objects.get(code=code),
            name=f"Review {code}",
            actor=officer,
            start=True,
        )
        for code in ("etsi-en-303-645", "nist-csf")
    ]


def api_client(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def scorecard_queries(client):
    with CaptureQueriesContext(connection) as ctx:
        page = client.get(reverse("compliance_ui:scorecard"))
    assert page.status_code == 200
    return len(ctx.captured_queries)


def test_scorecard_query_count_does_not_grow_with_the_fleet(world, fleet, assessments):
    client = web(world.a.user(Role.AUDITOR))
    grow(world, fleet[0].device_type, 8, silent=True)  # 10 devices
    run_checks(world.a.org, actor="test", system=True)
    small = scorecard_queries(client)
    grow(world, fleet[0].device_type, 190, silent=True)  # 200 devices, all silent
    run_checks(world.a.org, actor="test", system=True)
    run = CheckRun.objects.filter(check_code="silent-devices").first()
    assert run.failing_count == 198 and len(run.failing) == FAILING_SAMPLE
    big = scorecard_queries(client)
    assert big == small, (small, big)
    assert big < 50


def test_a_run_keeps_counts_scopes_and_a_sample_and_its_findings_as_rows(world, fleet):
    grow(world, fleet[0].device_type, 60, silent=True)
    (run,) = run_checks(world.a.org, actor="test", system=True, codes=["silent-devices"])
    assert run.passed is False and run.failing_count == 60
    assert len(run.failing) == FAILING_SAMPLE and run.failing_truncated
    assert {"id", "uid", "name", "site", "device_type", "reason"} <= set(run.failing[0])
    assert "silent for over" in run.failing[0]["reason"]
    assert sum(n for _site, _type, n in run.scope_counts) == 60
    by_site = {site: n for site, _type, n in run.scope_counts}
    assert by_site == {world.a.sites[0].pk: 30, world.a.sites[1].pk: 30}
    assert run.failing_in_scope({world.a.sites[1].pk}) == 30
    findings = CheckFinding.objects.filter(run=run)
    assert findings.count() == 60
    silent = set(
        Device.objects.filter(organization=world.a.org, name__startswith="grown-").values_list(
            "pk", flat=True
        )
    )
    assert set(findings.values_list("object_id", flat=True)) == silent


def test_requirement_page_lists_failing_devices_in_scope_a_page_at_a_time(
    world, fleet, assessments
):
    grow(world, fleet[0].device_type, 120, silent=True)
    run_checks(world.a.org, actor="test", system=True, codes=["silent-devices"])
    row = RequirementResult.objects.get(assessment=assessments[0], requirement__ref="5.10-1")
    client = web(world.a.user(Role.AUDITOR))
    url = reverse("compliance_ui:result", args=[row.pk])
    first = client.get(url)
    assert first.status_code == 200
    assert b"Page 1 of 3" in first.content and first.content.count(b"grown-") == 50
    last = client.get(url, {"check": "silent-devices", "page": 3})
    assert last.content.count(b"grown-") == 20
    # A technician narrowed to site 1 sees that site's devices only.
    tech = web(world.site_technician)
    page = tech.get(url)
    assert page.status_code == 200 and b"Page 1 of 2" in page.content
    assert b"(60 items)" in page.content
    # Another organization gets the same "not found" as for a missing page.
    assert web(world.b.user(Role.ADMIN)).get(url).status_code == 404


def test_check_run_findings_api_is_paginated_filtered_and_tenant_scoped(world, fleet):
    grow(world, fleet[0].device_type, 70, silent=True)
    (run,) = run_checks(world.a.org, actor="test", system=True, codes=["silent-devices"])
    api = api_client(world.a.user(Role.AUDITOR))
    url = reverse("compliance-check-run-findings", args=[run.pk])
    page = api.get(url, {"page_size": 50}).json()
    assert len(page["results"]) == 50 and page["next"]
    rest = api.get(page["next"]).json()
    assert len(rest["results"]) == 20 and rest["next"] is None
    one_site = api.get(url, {"site": world.a.sites[0].pk, "page_size": 500}).json()
    assert len(one_site["results"]) == 35
    detail = api.get(reverse("compliance-check-run-detail", args=[run.pk])).json()
    assert detail["failing_count"] == 70 and detail["failing_truncated"] is True
    other = api_client(world.b.user(Role.ADMIN))
    assert other.get(url).status_code == 404


def test_retention_drops_old_findings_then_old_runs_but_keeps_the_newest(world, fleet):
    grow(world, fleet[0].device_type, 5, silent=True)
    now = timezone.now()
    runs = []
    for age_days in (500, 30, 2, 0):
        (run,) = run_checks(world.a.org, actor="test", system=True, codes=["silent-devices"])
        CheckRun.objects.filter(pk=run.pk).update(ran_at=now - timedelta(days=age_days))
        runs.append(run)
    from compliance.models import Evidence

    Evidence.objects.filter(check_code="silent-devices").update(check_run=runs[-1])
    with pytest.MonkeyPatch.context() as mp:
        from django.conf import settings

        mp.setattr(
            settings,
            "COMPLIANCE",
            {**getattr(settings, "COMPLIANCE", {}), "CHECK_FINDINGS_KEEP_RUNS": 2},
            raising=False,
        )
        done = prune_check_runs(now=now)
    assert done == {"findings": 10, "runs": 1}
    assert not CheckRun.objects.filter(pk=runs[0].pk).exists()
    kept = {r.pk: r.findings_kept for r in CheckRun.objects.filter(check_code="silent-devices")}
    assert kept == {runs[1].pk: False, runs[2].pk: True, runs[3].pk: True}
    assert CheckFinding.objects.filter(run=runs[1].pk).count() == 0
    assert CheckRun.objects.get(pk=runs[1].pk).failing_count == 5  # counts stay
    assert CheckFinding.objects.filter(run=runs[3].pk).count() == 5
    page = web(world.a.user(Role.AUDITOR)).get(
        reverse("compliance_ui:check_run", args=[runs[1].pk])
    )
    assert page.status_code == 200 and b"past their retention" in page.content
