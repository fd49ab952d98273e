"""The issue's "done when": CA, enrollment from a CSR, chain verified twice, rotation,
revocation found in the CRL that openssl accepts."""

import datetime

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID
from cryptography.x509.verification import PolicyBuilder, Store
from django.utils import timezone

from devices.identity import services
from devices.identity.choices import CertificateStatus, RevocationReason
from devices.identity.models import DeviceCertificate
from devices.identity.tasks import certificate_maintenance
from encompass.audit.models import AuditEntry

from .conftest import device_key, enroll_device, make_csr, openssl, write

pytestmark = pytest.mark.django_db


def test_enroll_verify_rotate_revoke_crl(world, ca_a, device_a, tmp_path):
    cert, _key = enroll_device(world.a, device_a)
    leaf = cert.certificate()
    ca = ca_a.certificate()

    # The certificate says what the issue asks for.
    assert leaf.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == device_a.uid
    ext = leaf.extensions
    assert ext.get_extension_for_class(x509.BasicConstraints).critical
    assert ext.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert ext.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.CLIENT_AUTH]
    )
    usage = ext.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.key_agreement and not usage.key_cert_sign
    assert ext.get_extension_for_oid(ExtensionOID.SUBJECT_KEY_IDENTIFIER)
    aki = ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert 0 < leaf.serial_number < 2**159
    days = (leaf.not_valid_after_utc - timezone.now()).days
    assert 89 <= days <= 90
    cdp = ext.get_extension_for_class(x509.CRLDistributionPoints).value
    assert cdp[0].full_name[0].value.endswith(f"/pki/{world.a.org.slug}/ca/{ca_a.pk}/crl.der")
    assert cert.status == CertificateStatus.ACTIVE

    # Chain verified by cryptography's verifier and by openssl.
    verifier = PolicyBuilder().store(Store([ca])).build_client_verifier()
    assert verifier.verify(leaf, []).chain[-1] == ca
    ca_file = write(tmp_path, "ca.pem", ca_a.certificate_pem)
    leaf_file = write(tmp_path, "leaf.pem", cert.certificate_pem)
    result = openssl("verify", "-purpose", "sslclient", "-CAfile", ca_file, leaf_file)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout

    # Rotation: a new key, the old certificate kept valid for the overlap, then superseded.
    new_key = device_key()
    renewed = services.renew(device_a, cert, make_csr(new_key, device_a.uid))
    cert.refresh_from_db()
    assert renewed.replaces == cert
    assert renewed.spki_sha256 != cert.spki_sha256
    assert cert.revoked_at is None and cert.revoke_after is not None
    assert (cert.revoke_after - timezone.now()).days in (6, 7)
    DeviceCertificate.objects.filter(pk=cert.pk).update(
        revoke_after=timezone.now() - datetime.timedelta(minutes=1)
    )
    summary = certificate_maintenance()
    assert summary["superseded_revoked"] == 1
    cert.refresh_from_db()
    assert cert.revocation_reason == RevocationReason.SUPERSEDED

    # Staff revocation of the renewed certificate, with an RFC 5280 reason.
    services.revoke_certificate(
        renewed,
        actor=world.a.user("security_officer"),
        reason_code=RevocationReason.KEY_COMPROMISE,
    )
    ca_a.refresh_from_db()
    crl = x509.load_der_x509_crl(bytes(ca_a.crl_der))
    assert crl.is_signature_valid(ca.public_key())
    assert crl.next_update_utc > timezone.now()
    entry = crl.get_revoked_certificate_by_serial_number(int(renewed.serial_hex, 16))
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == (
        x509.ReasonFlags.key_compromise
    )
    assert crl.get_revoked_certificate_by_serial_number(int(cert.serial_hex, 16)) is not None

    # openssl accepts the CRL, and refuses the revoked certificate with CRL checking on.
    crl_file = write(tmp_path, "crl.pem", ca_a.crl_pem())
    result = openssl("crl", "-in", crl_file, "-CAfile", ca_file, "-noout", "-verify", "-text")
    assert result.returncode == 0, result.stderr
    assert "verify OK" in (result.stdout + result.stderr)
    assert renewed.serial_hex.upper() in result.stdout.replace(":", "").upper()
    renewed_file = write(tmp_path, "renewed.pem", renewed.certificate_pem)
    result = openssl("verify", "-crl_check", "-CAfile", ca_file, "-CRLfile", crl_file, renewed_file)
    assert result.returncode != 0
    assert "revoked" in (result.stdout + result.stderr).lower()

    actions = set(
        AuditEntry.objects.filter(organization=world.a.org).values_list("action", flat=True)
    )
    assert {
        "identity.certificateauthority.create",
        "identity.enrollmenttoken.create",
        "identity.devicecertificate.issue",
        "identity.devicecertificate.revoke",
    } <= actions
    assert not AuditEntry.objects.filter(
        organization=world.a.org, changes__icontains="PRIVATE KEY"
    ).exists()
