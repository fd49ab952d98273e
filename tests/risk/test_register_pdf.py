"""The risk register with its heat maps as a PDF made on the server: text, pages, the heat-map
colours from the matrix, the SHA-256 in the audit trail, and the tenant boundary."""

import hashlib

import pytest
from django.urls import reverse

from encompass.audit.models import AuditEntry
from encompass.tenancy.roles import Role
from encompass.testing.pdf import pdf_pages, pdf_text, pdf_to_png
from encompass.testing.web import web

pytestmark = pytest.mark.django_db


def test_risk_register_pdf(world, make_risk):
    for i in range(25):
        make_risk(title=f"Gateway takeover {i}", likelihood=1 + i % 5, impact=1 + (i * 2) % 5)
    make_risk(tenant=world.b, title="B secret risk")
    response = web(world.a.user(Role.AUDITOR)).get(reverse("risk_ui:report_pdf"))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    content = response.content
    text = pdf_text(content)
    pages = pdf_pages(content)
    assert pages >= 2
    assert "Risk register" in text and "Inherent risk" in text and "Residual risk" in text
    assert "Gateway takeover 0" in text and "Gateway takeover 24" in text
    assert "B secret risk" not in text and "Tenant B" not in text
    assert text.count("Tenant A") >= pages and f"Page {pages} of {pages}" in text
    entry = AuditEntry.objects.get(action="documents.pdf.generated", organization=world.a.org)
    assert entry.changes["sha256"] == hashlib.sha256(content).hexdigest()
    assert entry.changes["kind"] == "risk_register"
    assert AuditEntry.objects.filter(action="risk.register.export", changes__format="pdf").exists()
    assert pdf_to_png(content, "risk-register")
