"""Importing an existing CA (an intermediate under an offline root), and using it."""

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from django.utils import timezone

from devices.identity import pki, services
from encompass.exceptions import ValidationError
from encompass.tenancy.roles import Role

from .conftest import enroll_device, key_pem, openssl, write

pytestmark = pytest.mark.django_db


def intermediate_material():
    """An offline root and an intermediate it issued: (intermediate pem, its key pem, root pem)."""
    now = timezone.now()
    root_key = pki.generate_private_key("ec-p384")
    root = pki.build_root_certificate(
        root_key, pki.ca_name("Offline root", "Maker"), now=now, validity_days=3650, path_length=1
    )
    key = pki.generate_private_key("ec-p256")
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    intermediate = (
        x509.CertificateBuilder()
        .subject_name(pki.ca_name("Plant intermediate", "Maker"))
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1825))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(pki._key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
            critical=False,
        )
        .sign(root_key, hashes.SHA384())
    )
    return pki.to_pem(intermediate), key_pem(key), pki.to_pem(root)


def test_imported_intermediate_issues_verifiable_certificates(world, device_a, tmp_path):
    cert_pem, private_pem, root_pem = intermediate_material()
    ca = services.import_certificate_authority(
        organization=world.a.org,
        actor=world.a.user(Role.SECURITY_OFFICER),
        certificate_pem=cert_pem,
        private_key_pem=private_pem,
        chain_pem=root_pem,
    )
    assert ca.kind == "intermediate" and ca.is_active
    cert, _key = enroll_device(world.a, device_a)
    root = write(tmp_path, "root.pem", root_pem)
    chain = write(tmp_path, "chain.pem", cert_pem)
    leaf = write(tmp_path, "leaf.pem", cert.certificate_pem)
    result = openssl("verify", "-purpose", "sslclient", "-CAfile", root, "-untrusted", chain, leaf)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "case, field",
    [("wrong_key", "private_key"), ("not_ca", "certificate"), ("no_chain", "chain")],
)
def test_bad_imports_are_refused(world, case, field):
    cert_pem, private_pem, root_pem = intermediate_material()
    chain = root_pem
    if case == "wrong_key":
        private_pem = key_pem(pki.generate_private_key("ec-p256"))
    elif case == "not_ca":
        now = timezone.now()
        issuer_key = pki.generate_private_key("ec-p256")
        issuer = pki.build_root_certificate(
            issuer_key, pki.ca_name("Throwaway", "X"), now=now, validity_days=365
        )
        leaf_key = pki.generate_private_key("ec-p256")
        cert_pem = pki.to_pem(
            pki.build_device_certificate(
                ca_certificate=issuer,
                ca_key=issuer_key,
                public_key=leaf_key.public_key(),
                device_uid="dev_x",
                organization_name="X",
                not_after=now + datetime.timedelta(days=300),
                now=now,
                crl_url="http://example.invalid/crl",
            )
        )
        private_pem = key_pem(leaf_key)
    elif case == "no_chain":
        chain = ""
    with pytest.raises(ValidationError) as refused:
        services.import_certificate_authority(
            organization=world.a.org,
            actor=world.a.user(Role.ADMIN),
            certificate_pem=cert_pem,
            private_key_pem=private_pem,
            chain_pem=chain,
        )
    assert field in refused.value.message_dict
