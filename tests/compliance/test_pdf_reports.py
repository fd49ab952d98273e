"""The compliance report and the Statement of Applicability as PDFs made on the server, for each
shipped framework: their text, their pages, and the SHA-256 in the audit trail."""

import hashlib

import pytest
from django.urls import reverse

from compliance.models import Framework
from compliance.services.assessments import create_assessment
from compliance.services.reports import report_rows
from encompass.audit.models import AuditEntry
from encompass.tenancy.roles import Role
from encompass.testing.pdf import pdf_pages, pdf_text, pdf_to_png
from encompass.testing.web import web

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "kind,heading", [("assessment", "Assessment report"), ("soa", "Statement of applicability")]
)
def test_each_framework_as_pdf(world, frameworks, kind, heading):
    officer = world.a.user(Role.SECURITY_OFFICER)
    auditor = web(world.a.user(Role.AUDITOR))
    assert len(frameworks) >= 4
    for framework in Framework.objects.order_by("code"):
        assessment = create_assessment(
            world.a.org,
            framework=framework,
            name=f"{framework.code} review",
            actor=officer,
            start=True,
        )
        url = reverse("compliance_ui:export", args=[assessment.pk, kind, "pdf"])
        response = auditor.get(url)
        assert response.status_code == 200, framework.code
        assert response["Content-Type"] == "application/pdf"
        content = response.content
        text = pdf_text(content)
        pages = pdf_pages(content)
        assert framework.name in text
        assert heading.lower() in text.lower()
        assert text.count("Tenant A") >= pages
        assert f"Page {pages} of {pages}" in text
        rows = report_rows(assessment, kind)
        first_ref, last_ref = rows[0]["ref"], rows[-1]["ref"]
        assert first_ref in text and last_ref in text, (framework.code, first_ref, last_ref)
        entry = AuditEntry.objects.filter(
            action="documents.pdf.generated", object_id=str(assessment.pk)
        ).latest("sequence")
        assert entry.changes["sha256"] == hashlib.sha256(content).hexdigest()
        assert entry.changes["kind"] == f"compliance_{kind}"
        if framework.code == "etsi-en-303-645":
            assert pdf_to_png(content, f"compliance-{kind}-etsi")
        # Another organization: the same 404 as for an assessment that does not exist.
        assert web(world.b.user(Role.ADMIN)).get(url).status_code == 404
