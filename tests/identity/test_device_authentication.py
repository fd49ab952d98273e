"""The certificate path of device authentication, through the renewal endpoint."""

import datetime
from urllib.parse import quote

import pytest
from cryptography import x509
from django.utils import timezone
from rest_framework.test import APIClient

from devices.identity import pki, services
from devices.identity.choices import RevocationReason
from devices.identity.models import DeviceCertificate
from devices.services import rotate_device_token
from encompass.events.models import Event
from encompass.tenancy.roles import Role

from .conftest import device_key, enroll_device, make_csr

RENEW = "/api/device/v1/certificate/renew"
PROXY = "127.0.0.1"
pytestmark = pytest.mark.django_db


def renew_with(pem, csr, *, remote=PROXY, encode=True):
    header = quote(pem) if encode else pem
    return APIClient().post(
        RENEW, {"csr": csr}, format="json", HTTP_X_CLIENT_CERT=header, REMOTE_ADDR=remote
    )


@pytest.mark.parametrize("encode", [True, False])
def test_renew_with_forwarded_certificate(world, ca_a, device_a, encode):
    cert, _key = enroll_device(world.a, device_a)
    response = renew_with(cert.certificate_pem, make_csr(device_key(), device_a.uid), encode=encode)
    assert response.status_code == 201, response.content
    new = DeviceCertificate.objects.get(serial_hex=response.json()["serial"])
    assert new.replaces_id == cert.pk
    cert.refresh_from_db()
    assert cert.last_authenticated_at is not None


def test_header_from_untrusted_address_is_ignored(world, ca_a, device_a):
    cert, _key = enroll_device(world.a, device_a)
    response = renew_with(
        cert.certificate_pem, make_csr(device_key(), device_a.uid), remote="203.0.113.9"
    )
    assert response.status_code in (401, 403)
    assert DeviceCertificate.objects.filter(device=device_a).count() == 1


def _assert_refused(response, words, device=None):
    assert response.status_code == 401, response.content
    assert words in response.json()["detail"]
    if device is not None:
        assert Event.objects.filter(kind="security.auth_failure", device=device).exists()


def test_revoked_certificate_is_refused(world, ca_a, device_a):
    cert, _key = enroll_device(world.a, device_a)
    services.revoke_certificate(
        cert, actor=world.a.user(Role.SECURITY_OFFICER), reason_code=RevocationReason.KEY_COMPROMISE
    )
    response = renew_with(cert.certificate_pem, make_csr(device_key(), device_a.uid))
    _assert_refused(response, "revoked", device_a)


def test_expired_certificate_is_refused(world, ca_a, device_a):
    _token, _plaintext = services.create_enrollment_token(
        device_a, actor=world.a.user(Role.OPERATOR)
    )
    key = device_key()
    csr = x509.load_pem_x509_csr(make_csr(key, device_a.uid).encode())
    with pytest.MonkeyPatch.context() as mp:
        # Issue as if two days ago with one day of validity (time is outside the machine).
        past = timezone.now() - datetime.timedelta(days=2)
        mp.setattr("devices.identity.services.issuance.timezone.now", lambda: past)
        cert = services.issue_certificate(
            device_a, csr.public_key(), actor="test", via="enrollment", validity_days=1
        )
    assert cert.not_after < timezone.now()
    response = renew_with(cert.certificate_pem, make_csr(device_key(), device_a.uid))
    _assert_refused(response, "expired", device_a)


def test_certificate_of_a_foreign_ca_is_refused(world, ca_a, device_a, tmp_path):
    """A CA we do not know signs a certificate naming our device: refused, signal recorded."""
    rogue_key = pki.generate_private_key("ec-p256")
    now = timezone.now()
    rogue = pki.build_root_certificate(
        rogue_key, pki.ca_name("Rogue", "Rogue"), now=now, validity_days=365
    )
    leaf = pki.build_device_certificate(
        ca_certificate=rogue,
        ca_key=rogue_key,
        public_key=device_key().public_key(),
        device_uid=device_a.uid,
        organization_name=world.a.org.name,
        not_after=now + datetime.timedelta(days=30),
        now=now,
        crl_url="http://example.invalid/crl",
    )
    response = renew_with(pki.to_pem(leaf), make_csr(device_key(), device_a.uid))
    _assert_refused(response, "not issued by this platform", device_a)


def test_certificate_forged_with_a_known_serial_is_refused(world, ca_a, ca_b, device_a):
    """Another organization's CA cannot stand in for ours even with our device's name."""
    cert, _key = enroll_device(world.a, device_a)
    # B's CA signs a certificate with A's device id: not a known fingerprint.
    from devices.identity.services import signing_key

    now = timezone.now()
    forged = pki.build_device_certificate(
        ca_certificate=ca_b.certificate(),
        ca_key=signing_key(ca_b),
        public_key=cert.certificate().public_key(),
        device_uid=device_a.uid,
        organization_name=world.a.org.name,
        not_after=now + datetime.timedelta(days=30),
        now=now,
        crl_url="http://example.invalid/crl",
    )
    response = renew_with(pki.to_pem(forged), make_csr(device_key(), device_a.uid))
    _assert_refused(response, "not issued by this platform", device_a)


def test_garbage_header_is_refused(world, ca_a):
    response = renew_with("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", "x")
    assert response.status_code == 401


def test_token_authenticated_device_cannot_renew(world, ca_a, device_a):
    _device, token = rotate_device_token(device_a, actor=world.a.user(Role.ADMIN))
    response = APIClient().post(
        RENEW,
        {"csr": make_csr(device_key(), device_a.uid)},
        format="json",
        HTTP_AUTHORIZATION=f"Device {token}",
    )
    assert response.status_code == 403
    assert "enrollment token" in response.json()["detail"]


def test_renewing_twice_from_the_old_certificate(world, ca_a, device_a):
    """A device that lost the answer renews again; a successor already in use blocks that."""
    cert, _key = enroll_device(world.a, device_a)
    first = renew_with(cert.certificate_pem, make_csr(device_key(), device_a.uid))
    assert first.status_code == 201
    again = renew_with(cert.certificate_pem, make_csr(device_key(), device_a.uid))
    assert again.status_code == 201, again.content
    lost = DeviceCertificate.objects.get(serial_hex=first.json()["serial"])
    assert lost.revocation_reason == RevocationReason.SUPERSEDED
    current = DeviceCertificate.objects.get(serial_hex=again.json()["serial"])
    # The new certificate authenticates once: from then on the old one cannot renew.
    assert (
        renew_with(current.certificate_pem, make_csr(device_key(), device_a.uid)).status_code == 201
    )
    refused = renew_with(cert.certificate_pem, make_csr(device_key(), device_a.uid))
    assert refused.status_code == 400
    assert "already renewed" in refused.json()["certificate"][0]


def test_a_new_issuing_ca_keeps_old_certificates_working(world, ca_a, device_a):
    cert, _key = enroll_device(world.a, device_a)
    officer = world.a.user(Role.SECURITY_OFFICER)
    new_ca = services.create_certificate_authority(
        organization=world.a.org, actor=officer, name="A devices 2", key_algorithm="ec-p384"
    )
    ca_a.refresh_from_db()
    assert new_ca.is_active and not ca_a.is_active
    response = renew_with(cert.certificate_pem, make_csr(device_key(), device_a.uid))
    assert response.status_code == 201, response.content
    renewed = DeviceCertificate.objects.get(serial_hex=response.json()["serial"])
    assert renewed.authority == new_ca
    assert response.json()["chain"] == [new_ca.certificate_pem]
    back = APIClient()
    back.force_authenticate(officer)
    url = f"/api/v1/certificate-authorities/{ca_a.pk}/activate/"
    assert back.post(url).status_code == 200
    ca_a.refresh_from_db()
    assert ca_a.is_active
