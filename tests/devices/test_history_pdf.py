"""The device history (lifecycle, certificates, firmware, incidents) as a PDF made on the
server: its text, its pages, the SHA-256 in the audit trail, and the tenant boundary."""

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.db import transaction

from devices.choices import LifecycleState
from devices.identity.choices import IssuedVia
from devices.identity.services import create_certificate_authority
from devices.identity.services.issuance import issue_certificate
from devices.services import transition_device
from encompass.audit.models import AuditEntry
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device
from encompass.testing.pdf import pdf_pages, pdf_text, pdf_to_png
from encompass.testing.web import web
from incidents.services import declare_incident

pytestmark = pytest.mark.django_db


def test_device_history_pdf(world):
    admin = world.a.user(Role.ADMIN)
    device = make_device(world.a.org, site=world.a.sites[0], name="Feeder gateway 7")
    transition_device(device, LifecycleState.PROVISIONED, actor=admin, reason="bench test passed")
    create_certificate_authority(organization=world.a.org, actor=admin, name="A devices")
    with transaction.atomic():
        cert = issue_certificate(
            device,
            ec.generate_private_key(ec.SECP256R1()).public_key(),
            actor="test",
            via=IssuedVia.FACTORY,
        )
    transition_device(device, LifecycleState.DEPLOYED, actor=admin, reason="installed at feeder")
    incident = declare_incident(
        organization=world.a.org,
        title="Gateway beaconing",
        severity="medium",
        actor=world.a.user(Role.SECURITY_OFFICER),
        devices=[device],
    )
    response = web(world.a.user(Role.AUDITOR)).get(f"/devices/{device.pk}/history.pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    content = response.content
    text = pdf_text(content)
    pages = pdf_pages(content)
    assert "Device history" in text and "Feeder gateway 7" in text and device.uid in text
    assert "Tenant A" in text and f"Page {pages} of {pages}" in text
    assert "bench test passed" in text and "installed at feeder" in text
    assert cert.serial_hex[:17] in text
    assert incident.reference in text and "Gateway beaconing" in text
    assert "No firmware updates." in text
    entry = AuditEntry.objects.get(action="documents.pdf.generated", object_id=str(device.pk))
    assert entry.changes["sha256"] == hashlib.sha256(content).hexdigest()
    assert entry.changes["kind"] == "device_history"
    assert pdf_to_png(content, "device-history")
    # Another organization: 404, as for a device that does not exist; nothing audited for it.
    assert web(world.b.user(Role.ADMIN)).get(f"/devices/{device.pk}/history.pdf").status_code == 404
    assert web(world.b.user(Role.ADMIN)).get("/devices/999999/history.pdf").status_code == 404
    assert AuditEntry.objects.filter(action="documents.pdf.generated").count() == 1
