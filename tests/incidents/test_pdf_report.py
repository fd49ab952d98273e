"""The incident report as a PDF made on the server (WeasyPrint): its text, its pages, and the
SHA-256 of the exact bytes in the organization's audit trail."""

import hashlib

import pytest

from encompass.audit.models import AuditEntry
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device
from encompass.testing.pdf import pdf_pages, pdf_text, pdf_to_png
from encompass.testing.web import web
from incidents.services import declare_incident

from .test_api import client_for

pytestmark = pytest.mark.django_db


def test_incident_report_pdf(world):
    officer = world.a.user(Role.SECURITY_OFFICER)
    devices = [
        make_device(world.a.org, site=world.a.sites[0], name=f"meter-{i}") for i in range(60)
    ]
    incident = declare_incident(
        organization=world.a.org,
        title="Tampered smart meters",
        severity="high",
        actor=officer,
        devices=devices,
        description="Enclosure switches tripped on a feeder.",
    )
    response = web(officer).get(f"/incidents/{incident.pk}/report/?download=pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].endswith('.pdf"')
    content = response.content
    assert content.startswith(b"%PDF-")
    text = pdf_text(content)
    pages = pdf_pages(content)
    assert pages >= 2  # sixty devices do not fit on one page
    assert "Tampered smart meters" in text and incident.reference in text
    assert text.count("Tenant A") >= pages  # the organization on every page
    assert f"Page 1 of {pages}" in text and f"Page {pages} of {pages}" in text
    assert "Generated " in text and " UTC" in text
    assert "meter-59" in text and "Enclosure switches tripped" in text
    assert "Print / save as PDF" not in text  # the screen toolbar is not printed
    entry = AuditEntry.objects.get(action="documents.pdf.generated", object_id=str(incident.pk))
    assert entry.organization_id == world.a.org.pk
    assert entry.changes["sha256"] == hashlib.sha256(content).hexdigest()
    assert entry.changes["kind"] == "incident_report" and entry.changes["bytes"] == len(content)
    assert pdf_to_png(content, "incident-report")

    # The API gives the same document; another tenant gets 404, as for a missing incident.
    api = client_for(world.a.user(Role.AUDITOR)).get(
        f"/api/v1/incidents/{incident.pk}/report/?as=pdf"
    )
    assert api.status_code == 200 and api.content.startswith(b"%PDF-")
    other = client_for(world.b.user(Role.ADMIN)).get(
        f"/api/v1/incidents/{incident.pk}/report/?as=pdf"
    )
    assert other.status_code == 404
    assert (
        web(world.b.user(Role.ADMIN))
        .get(f"/incidents/{incident.pk}/report/?download=pdf")
        .status_code
        == 404
    )
