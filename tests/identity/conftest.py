"""Fixtures for identity tests: a CA per tenant, devices, and a device-side key + CSR helper."""

import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from devices.choices import LifecycleState
from devices.identity import services
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device

OPENSSL = "/usr/bin/openssl"


def device_key(kind="ec-p256"):
    if kind == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "ec-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "ec-p521":
        return ec.generate_private_key(ec.SECP521R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=int(kind.split("-")[1]))


def make_csr(key, cn=None, *, ca=False):
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else []
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def key_pem(key):
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def openssl(*args, cwd=None, check=False):
    return subprocess.run(
        [OPENSSL, *args], capture_output=True, text=True, cwd=cwd, check=check, timeout=30
    )


def write(tmp_path, name, text):
    path = Path(tmp_path) / name
    path.write_text(text) if isinstance(text, str) else path.write_bytes(text)
    return str(path)


@pytest.fixture
def ca_a(world):
    return services.create_certificate_authority(
        organization=world.a.org, actor=world.a.user(Role.ADMIN), name="A devices"
    )


@pytest.fixture
def ca_b(world):
    return services.create_certificate_authority(
        organization=world.b.org, actor=world.b.user(Role.ADMIN), name="B devices"
    )


@pytest.fixture
def device_a(world):
    return make_device(world.a.org, site=world.a.sites[0], state=LifecycleState.PROVISIONED)


@pytest.fixture
def device_b(world):
    return make_device(world.b.org, site=world.b.sites[0], state=LifecycleState.PROVISIONED)


def enroll_device(world_tenant, device, *, kind="ec-p256", cn=True):
    """Token + CSR + enroll through the service; returns ``(certificate, key)``."""
    _token, plaintext = services.create_enrollment_token(
        device, actor=world_tenant.user(Role.OPERATOR)
    )
    key = device_key(kind)
    cert = services.enroll(token=plaintext, csr_pem=make_csr(key, device.uid if cn else None))
    return cert, key
