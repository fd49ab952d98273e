"""The emergency path: a compromised CA is withdrawn at once and its devices re-enroll.

openssl is the relying party here: it reads the re-signed CRL (reason *CA Compromise*) and
refuses the old certificates with it; the trust bundle, EST ``cacerts`` and the broker's CA file
no longer carry the CA; the device API refuses what it signed.
"""

import base64

import pytest
from cryptography.hazmat.primitives.serialization import pkcs7
from django.core.exceptions import PermissionDenied, ValidationError
from rest_framework.test import APIClient

from devices.choices import LifecycleState
from devices.identity import services
from devices.identity.choices import RevocationReason
from devices.identity.models import DeviceCertificate, EnrollmentToken
from devices.identity.rotation import rotation_progress
from devices.models import Device
from devices.mqtt.broker import trust_bundle
from encompass.audit.models import AuditEntry
from encompass.events.models import Event
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device
from encompass.testing.web import web

from .conftest import device_key, enroll_device, make_csr, openssl, write
from .test_device_authentication import _assert_refused, renew_with

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet(world, ca_a):
    """Three devices on CA A: two in service, one moved to a new CA already, one decommissioning."""
    devices = [
        make_device(world.a.org, site=world.a.sites[0], state=LifecycleState.PROVISIONED)
        for _ in range(4)
    ]
    certs = {d.pk: enroll_device(world.a, d)[0] for d in devices}
    return devices, certs


def _replacement(world):
    return services.create_certificate_authority(
        organization=world.a.org, actor=world.a.user(Role.ADMIN), name="A devices (replacement)"
    )


def test_refused_while_it_is_the_issuing_ca_and_nothing_changes(world, ca_a, fleet):
    officer = world.a.user(Role.SECURITY_OFFICER)
    with pytest.raises(ValidationError, match="replacement CA first"):
        services.declare_ca_compromised(ca_a, actor=officer, note="key found on a pastebin")
    ca_a.refresh_from_db()
    assert ca_a.compromised_at is None
    assert DeviceCertificate.objects.filter(authority=ca_a, revoked_at__isnull=False).count() == 0
    assert not EnrollmentToken.objects.filter(used_at__isnull=True).exists()


def test_an_empty_note_or_a_role_without_the_right_changes_nothing(world, ca_a, fleet):
    _replacement(world)
    with pytest.raises(ValidationError, match="what happened"):
        services.declare_ca_compromised(ca_a, actor=world.a.user(Role.ADMIN), note="  ")
    for role in (Role.OPERATOR, Role.AUDITOR, Role.TECHNICIAN):
        with pytest.raises(PermissionDenied):
            services.declare_ca_compromised(ca_a, actor=world.a.user(role), note="x")
    with pytest.raises(PermissionDenied):
        services.declare_ca_compromised(ca_a, actor=world.b.user(Role.ADMIN), note="x")
    ca_a.refresh_from_db()
    assert ca_a.compromised_at is None
    assert not DeviceCertificate.objects.filter(revoked_at__isnull=False).exists()


def test_the_emergency_path_end_to_end(world, ca_a, fleet, tmp_path):
    devices, certs = fleet
    first, second, moved, retiring = devices
    officer = world.a.user(Role.SECURITY_OFFICER)
    new_ca = _replacement(world)
    services.renew(moved, certs[moved.pk], make_csr(device_key(), moved.uid))
    Device.objects.filter(pk=retiring.pk).update(state=LifecycleState.DECOMMISSIONING)
    old_pem = write(tmp_path, "ca-a.pem", ca_a.certificate_pem)
    leaf = write(tmp_path, "first.pem", certs[first.pk].certificate_pem)
    assert openssl("verify", "-CAfile", old_pem, leaf).returncode == 0

    result = services.declare_ca_compromised(ca_a, actor=officer, note="HSM backup tape lost")

    # Every certificate it issued is revoked, including the one already superseded.
    assert result["revoked"] == 4 and result["devices"] == 4
    assert result["already_on_another_ca"] == 1
    assert {d.pk for d, _t in result["tokens"]} == {first.pk, second.pk}
    assert [d.pk for d in result["skipped"]] == [retiring.pk]
    assert set(
        DeviceCertificate.objects.filter(authority=ca_a).values_list("revocation_reason", flat=True)
    ) == {RevocationReason.CA_COMPROMISE}
    assert DeviceCertificate.objects.filter(authority=new_ca).valid().count() == 1

    # openssl reads the re-signed CRL and refuses the old certificates with it.
    ca_a.refresh_from_db()
    crl = write(tmp_path, "crl.pem", ca_a.crl_pem())
    text = openssl("crl", "-in", crl, "-noout", "-text").stdout
    assert text.count("CA Compromise") == 4
    checked = openssl("verify", "-crl_check", "-CAfile", old_pem, "-CRLfile", crl, leaf)
    assert checked.returncode != 0 and "revoked" in (checked.stdout + checked.stderr)

    # Out of every trust list; the device API refuses what it signed.
    assert ca_a.certificate_pem.strip() not in trust_bundle(world.a.org)
    assert new_ca.certificate_pem.strip() in trust_bundle(world.a.org)
    bundle = APIClient().get(f"/pki/{world.a.org.slug}/ca.pem").content.decode()
    assert ca_a.certificate_pem.strip() not in bundle and new_ca.certificate_pem.strip() in bundle
    est = APIClient().get(f"/.well-known/est/{world.a.org.slug}/cacerts")
    served = pkcs7.load_der_pkcs7_certificates(base64.b64decode(est.content))
    assert [c.serial_number for c in served] == [new_ca.certificate().serial_number]
    response = renew_with(certs[first.pk].certificate_pem, make_csr(device_key(), first.uid))
    _assert_refused(response, "compromised", first)

    # Who is still on it, and what they do next.
    progress = rotation_progress(ca_a, officer)
    assert progress["devices_awaiting_reenrollment"] == 2
    assert {b["device"] for b in progress["blockers"]} == {first.pk, second.pk}
    token = dict((d.pk, t) for d, t in result["tokens"])[first.pk]
    fresh = services.enroll(token=token, csr_pem=make_csr(device_key(), first.uid))
    assert fresh.authority_id == new_ca.pk
    assert rotation_progress(ca_a, officer)["devices_awaiting_reenrollment"] == 1

    # Recorded, raised, and final.
    entry = AuditEntry.objects.get(action="identity.certificateauthority.declare_compromised")
    assert entry.changes["note"] == "HSM backup tape lost" and entry.changes["revoked"] == 4
    assert Event.objects.filter(kind="identity.authority_compromised", severity="critical").exists()
    with pytest.raises(ValidationError, match="already declared"):
        services.declare_ca_compromised(ca_a, actor=officer, note="again")
    with pytest.raises(ValidationError, match="never issues again"):
        services.activate_certificate_authority(ca_a, actor=world.a.user(Role.ADMIN))


def test_a_valid_certificate_of_a_compromised_ca_is_refused_all_the_same(world, ca_a, device_a):
    """Defence in depth: even a certificate whose row was not revoked is refused."""
    cert, _key = enroll_device(world.a, device_a)
    _replacement(world)
    ca_a.__class__.objects.filter(pk=ca_a.pk).update(compromised_at=cert.not_before)
    response = renew_with(cert.certificate_pem, make_csr(device_key(), device_a.uid))
    _assert_refused(response, "compromised", device_a)


def test_api_answers_tokens_once_and_guards_roles_and_tenants(world, ca_a, fleet):
    new_ca = _replacement(world)
    url = f"/api/v1/certificate-authorities/{ca_a.pk}/declare-compromised/"

    def post(user, body):
        client = APIClient()
        client.force_authenticate(user)
        return client.post(url, body, format="json")

    assert post(world.b.user(Role.ADMIN), {"note": "x"}).status_code == 404
    assert post(world.a.user(Role.OPERATOR), {"note": "x"}).status_code == 403
    assert post(world.a.user(Role.SECURITY_OFFICER), {}).status_code == 400
    assert post(world.a.user(Role.SECURITY_OFFICER), {"note": "x" * 301}).status_code == 400
    assert not DeviceCertificate.objects.filter(revoked_at__isnull=False).exists()

    response = post(world.a.user(Role.SECURITY_OFFICER), {"note": "key extracted"})
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["revoked"] == 4 and body["tokens_issued"] == 4
    assert body["issuing_authority"] == new_ca.pk
    assert all(t["token"].startswith("enr_") for t in body["tokens"])
    assert post(world.a.user(Role.SECURITY_OFFICER), {"note": "again"}).status_code == 400
    detail = APIClient()
    detail.force_authenticate(world.a.user(Role.AUDITOR))
    shown = detail.get(f"/api/v1/certificate-authorities/{ca_a.pk}/").json()
    assert shown["compromised_at"] and shown["compromise_note"] == "key extracted"
    rotation = detail.get(f"/api/v1/certificate-authorities/{ca_a.pk}/rotation/").json()
    assert rotation["devices_awaiting_reenrollment"] == 4


def test_pages_offer_the_emergency_only_to_who_may(world, ca_a, fleet):
    _replacement(world)
    rotation = f"/identity/authorities/{ca_a.pk}/rotation/"
    compromise = f"/identity/authorities/{ca_a.pk}/compromise/"
    auditor = web(world.a.user(Role.AUDITOR))
    page = auditor.get(rotation)
    assert page.status_code == 200 and b"Devices still on this CA" in page.content
    assert compromise.encode() not in page.content
    assert auditor.get(compromise).status_code == 403
    assert web(world.b.user(Role.ADMIN)).get(rotation).status_code == 404
    assert web(world.b.user(Role.ADMIN)).get(compromise).status_code == 404

    officer = web(world.a.user(Role.SECURITY_OFFICER))
    assert compromise.encode() in officer.get(rotation).content
    wrong = officer.post(compromise, {"note": "lost", "confirm_name": "A devices?"})
    assert wrong.status_code == 200 and b"exactly" in wrong.content
    ca_a.refresh_from_db()
    assert ca_a.compromised_at is None
    done = officer.post(compromise, {"note": "lost", "confirm_name": ca_a.name})
    assert done.status_code == 200 and b"reenrollment-tokens" in done.content
    assert done["Cache-Control"] == "no-store"
    assert done.content.count(b"enr_") == 4
    ca_a.refresh_from_db()
    assert ca_a.compromised_at is not None
    after = officer.get(rotation)
    assert b"Waiting to re-enroll" in after.content and b"CA compromise" in after.content
    assert officer.get(compromise).status_code == 302
