"""REST: the tenant contract for every compliance endpoint, domain actions per role, and
cross-tenant isolation (another tenant's assessment and evidence file are not found)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from compliance.models import (
    Assessment,
    CheckRun,
    Evidence,
    Framework,
    RequirementResult,
    ScoreSnapshot,
)
from compliance.services.assessments import create_assessment
from compliance.services.checks import run_checks
from compliance.services.evidence import add_evidence
from compliance.services.scoring import record_snapshots
from encompass.audit.models import AuditEntry
from encompass.tenancy.roles import Role
from encompass.testing.api import TenantAPIContract

pytestmark = pytest.mark.usefixtures("catalogue")


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def etsi():
    return Framework.objects.get(code="etsi-en-303-645")


def assessment_for(tenant, name="Review"):
    return create_assessment(
        tenant.org, framework=etsi(), name=name, actor=tenant.user(Role.SECURITY_OFFICER)
    )


class TestAssessmentAPI(TenantAPIContract):
    basename = "compliance-assessment"
    model = Assessment

    def make(self, world, tenant):
        return assessment_for(tenant, name=f"Review {Assessment.objects.count()}")

    def create_payload(self, world, tenant):
        return {"organization": tenant.org.pk, "framework": etsi().pk, "name": "New review"}

    def update_payload(self, world, obj):
        return {"name": "Renamed review"}


class TestResultAPI(TenantAPIContract):
    basename = "compliance-result"
    model = RequirementResult
    creatable = False
    deletable = False
    audit_action_prefix = "compliance.result"

    def make(self, world, tenant):
        assessment = Assessment.objects.filter(organization=tenant.org).first() or assessment_for(
            tenant
        )
        return assessment.results.get(requirement__ref="5.2-1")

    def update_payload(self, world, obj):
        return {"result": "compliant", "notes": "Policy published at /security."}


class TestEvidenceAPI(TenantAPIContract):
    basename = "compliance-evidence"
    model = Evidence

    def make(self, world, tenant):
        return add_evidence(
            tenant.org,
            actor=tenant.user(Role.SECURITY_OFFICER),
            title="Policy",
            url="https://example.test/policy",
        )

    def create_payload(self, world, tenant):
        return {
            "organization": tenant.org.pk,
            "title": "Runbook",
            "url": "https://example.test/runbook",
        }

    def update_payload(self, world, obj):
        return {"title": "Runbook v2"}


class TestCheckRunAPI(TenantAPIContract):
    basename = "compliance-check-run"
    model = CheckRun
    creatable = updatable = deletable = False

    def make(self, world, tenant):
        return run_checks(tenant.org, actor="test", system=True, codes=["audit-trail-intact"])[0]


class TestScoreAPI(TenantAPIContract):
    basename = "compliance-score"
    model = ScoreSnapshot
    creatable = updatable = deletable = False

    def make(self, world, tenant):
        assessment = Assessment.objects.filter(organization=tenant.org).first() or assessment_for(
            tenant
        )
        return record_snapshots(assessment, reason="test")[0]


def test_catalogue_is_readable_by_every_member_and_nobody_else(world):
    url = reverse("compliance-framework-list")
    response = client_for(world.a.user(Role.TECHNICIAN)).get(url)
    assert response.status_code == 200
    assert {f["code"] for f in response.json()} == {
        "etsi-en-303-645",
        "nist-csf",
        "iec-62443-4-2",
        "iso-27001-annex-a",
        "en-18031-1",
        "en-18031-2",
        "en-18031-3",
    }
    assert client_for(world.outsider).get(url).json() == []
    reqs = client_for(world.b.user(Role.AUDITOR)).get(
        reverse("compliance-requirement-list"), {"framework": "etsi-en-303-645", "ref": "5.13-1"}
    )
    assert reqs.json()["results"][0]["obligation"] == "mandatory"
    maps = client_for(world.a.user(Role.AUDITOR)).get(
        reverse("compliance-mapping-list"), {"ref": "5.1-1"}
    )
    assert len(maps.json()["results"]) >= 3
    assert (
        client_for(world.a.user(Role.ADMIN)).post(url, {"code": "x"}, format="json").status_code
        == 405
    )


def test_result_not_applicable_without_justification_is_400(world):
    row = TestResultAPI().make(world, world.a)
    response = client_for(world.a.user(Role.SECURITY_OFFICER)).patch(
        reverse("compliance-result-detail", args=[row.pk]),
        {"result": "not_applicable"},
        format="json",
    )
    assert response.status_code == 400
    assert "justification" in response.json()


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (Role.ADMIN, 201),
        (Role.SECURITY_OFFICER, 201),
        (Role.OPERATOR, 201),
        (Role.TECHNICIAN, 403),
        (Role.AUDITOR, 403),
    ],
)
def test_run_checks_now_by_role(world, role, expected):
    response = client_for(world.a.user(role)).post(
        reverse("compliance-check-run"), {"checks": ["audit-trail-intact"]}, format="json"
    )
    assert response.status_code == expected, response.content
    if expected == 201:
        assert response.json()[0]["check_code"] == "audit-trail-intact"


def test_run_checks_in_another_tenant_is_not_found(world):
    response = client_for(world.a.user(Role.ADMIN)).post(
        reverse("compliance-check-run"), {"organization": world.b.org.pk}, format="json"
    )
    assert response.status_code == 404


def test_check_definitions_are_listed(world):
    response = client_for(world.a.user(Role.AUDITOR)).get(reverse("compliance-check-list"))
    codes = {c["code"] for c in response.json()}
    assert {"certificate-expiry", "mfa-privileged", "audit-trail-intact"} <= codes


@pytest.mark.parametrize(
    ("role", "expected"),
    [(Role.AUDITOR, 200), (Role.SECURITY_OFFICER, 200), (Role.TECHNICIAN, 403)],
)
def test_export_by_role_is_audited(world, role, expected):
    assessment = assessment_for(world.a)
    response = client_for(world.a.user(role)).get(
        reverse("compliance-assessment-export", args=[assessment.pk]),
        {"format": "json", "report": "soa"},
    )
    assert response.status_code == expected
    exported = AuditEntry.objects.filter(action="compliance.assessment.export").exists()
    assert exported == (expected == 200)
    if expected == 200:
        assert response["Content-Disposition"].startswith("attachment;")
        assert len(response.json()["rows"]) == 67


def test_status_action_and_score(world):
    assessment = assessment_for(world.a)
    url = reverse("compliance-assessment-status", args=[assessment.pk])
    assert (
        client_for(world.a.user(Role.OPERATOR))
        .post(url, {"status": "in_progress"}, format="json")
        .status_code
        == 403
    )
    response = client_for(world.a.user(Role.SECURITY_OFFICER)).post(
        url, {"status": "completed"}, format="json"
    )
    assert response.status_code == 400 and "status" in response.json()
    response = client_for(world.a.user(Role.SECURITY_OFFICER)).post(
        url, {"status": "in_progress"}, format="json"
    )
    assert response.json()["status"] == "in_progress"
    score = client_for(world.a.user(Role.AUDITOR)).get(
        reverse("compliance-assessment-score", args=[assessment.pk])
    )
    assert score.json()["applicable"] == 67


def test_evidence_file_upload_and_download_stay_in_the_tenant(world):
    client = client_for(world.b.user(Role.OPERATOR))
    response = client.post(
        reverse("compliance-evidence-list"),
        {
            "organization": world.b.org.pk,
            "title": "Pen-test report",
            "file": SimpleUploadedFile("report.pdf", b"%PDF-1.7 b", content_type="application/pdf"),
        },
        format="multipart",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "file" and len(body["sha256"]) == 64
    download = reverse("compliance-evidence-download", args=[body["id"]])
    got = client_for(world.b.user(Role.AUDITOR)).get(download)
    assert got.status_code == 200 and b"".join(got.streaming_content) == b"%PDF-1.7 b"
    assert AuditEntry.objects.filter(action="compliance.evidence.download").count() == 1
    assert client_for(world.a.user(Role.ADMIN)).get(download).status_code == 404
    theirs = assessment_for(world.b)
    assert (
        client_for(world.a.user(Role.ADMIN))
        .get(reverse("compliance-assessment-detail", args=[theirs.pk]))
        .status_code
        == 404
    )


def test_result_list_query_count_does_not_grow(world, django_assert_max_num_queries):
    assessment_for(world.a, "One")
    client = client_for(world.a.user(Role.AUDITOR))
    with django_assert_max_num_queries(12):
        response = client.get(reverse("compliance-result-list"), {"page_size": 200})
    assert len(response.json()["results"]) == 67
    assessment_for(world.a, "Two")
    with django_assert_max_num_queries(12):
        response = client.get(reverse("compliance-result-list"), {"page_size": 200})
    assert len(response.json()["results"]) == 134
