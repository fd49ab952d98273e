"""Enrollment through the device API: what is accepted, what is refused (and changes nothing)."""

import datetime
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from devices.choices import LifecycleState
from devices.identity import services
from devices.identity.models import DeviceCertificate, EnrollmentToken
from encompass.events.models import Event
from encompass.tenancy.roles import Role

from .conftest import device_key, make_csr

ENROLL = "/api/device/v1/enroll"
pytestmark = pytest.mark.django_db


def post(token, csr, **extra):
    return APIClient().post(ENROLL, {"token": token, "csr": csr}, format="json", **extra)


def new_token(tenant, device, **kwargs):
    return services.create_enrollment_token(device, actor=tenant.user(Role.OPERATOR), **kwargs)


@pytest.mark.parametrize("kind", ["ec-p256", "ec-p384", "rsa-4096"])
def test_enroll_accepts_allowed_keys(world, ca_a, device_a, kind):
    _token, plaintext = new_token(world.a, device_a)
    key = device_key(kind)
    response = post(plaintext, make_csr(key, device_a.uid))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["device"] == device_a.uid
    assert body["chain"] == [ca_a.certificate_pem]
    cert = x509.load_pem_x509_certificate(body["certificate"].encode())
    assert format(cert.serial_number, "X") == body["serial"]
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    assert EnrollmentToken.objects.get(prefix=_token.prefix).used_at is not None


def test_empty_subject_gets_the_device_id(world, ca_a, device_a):
    _token, plaintext = new_token(world.a, device_a)
    response = post(plaintext, make_csr(device_key(), None))
    assert response.status_code == 201, response.content
    cert = x509.load_pem_x509_certificate(response.json()["certificate"].encode())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == device_a.uid


def _tampered_csr(device):
    """A CSR edited after signing (one byte of its subject changed): the signature breaks."""
    der = x509.load_pem_x509_csr(make_csr(device_key(), device.uid).encode()).public_bytes(
        serialization.Encoding.DER
    )
    original = device.uid.encode()
    changed = original[:-1] + (b"x" if original[-1:] != b"x" else b"y")
    tampered = x509.load_der_x509_csr(der.replace(original, changed))
    return tampered.public_bytes(serialization.Encoding.PEM).decode()


@pytest.mark.parametrize(
    "case, field, words",
    [
        ("bad_signature", "csr", "signature does not verify"),
        ("rsa_2048", "csr", "below the policy minimum"),
        ("p521", "csr", "P-256 and P-384"),
        ("wrong_cn", "csr", "must be the device id"),
        ("wants_ca", "csr", "cannot be a CA"),
        ("garbage", "csr", "Not a PEM certificate signing request"),
        ("expired_token", "token", "expired"),
        ("unknown_token", "token", "Unknown enrollment token"),
        ("revoked_token", "token", "revoked"),
        ("reused_token", "token", "already used"),
    ],
)
def test_bad_enrollments_are_refused_and_issue_nothing(world, ca_a, device_a, case, field, words):
    token, plaintext = new_token(world.a, device_a)
    csr = make_csr(device_key(), device_a.uid)
    if case == "bad_signature":
        csr = _tampered_csr(device_a)
    elif case == "rsa_2048":
        csr = make_csr(device_key("rsa-2048"), device_a.uid)
    elif case == "p521":
        csr = make_csr(device_key("ec-p521"), device_a.uid)
    elif case == "wrong_cn":
        csr = make_csr(device_key(), "dev_someoneelse0000000")
    elif case == "wants_ca":
        csr = make_csr(device_key(), device_a.uid, ca=True)
    elif case == "garbage":
        csr = "-----BEGIN CERTIFICATE REQUEST-----\nnope\n-----END CERTIFICATE REQUEST-----"
    elif case == "expired_token":
        EnrollmentToken.objects.filter(pk=token.pk).update(
            expires_at=timezone.now() - datetime.timedelta(seconds=1)
        )
    elif case == "unknown_token":
        plaintext = plaintext[:-4] + "AAAA"
    elif case == "revoked_token":
        services.revoke_enrollment_token(token, actor=world.a.user(Role.ADMIN))
    elif case == "reused_token":
        assert post(plaintext, make_csr(device_key(), device_a.uid)).status_code == 201
    before = DeviceCertificate.objects.count()
    response = post(plaintext, csr)
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert words.lower() in " ".join(response.json()[field]).lower()
    assert DeviceCertificate.objects.count() == before
    if case not in ("reused_token", "unknown_token"):
        token.refresh_from_db()
        assert token.used_at is None, "a refused enrollment must not burn the token"
        assert Event.objects.filter(
            kind="security.auth_failure", device=device_a, payload__method="enrollment"
        ).exists()


def test_another_organizations_token_cannot_enroll_our_device(
    world, ca_a, ca_b, device_a, device_b
):
    _token, b_plaintext = new_token(world.b, device_b)
    response = post(b_plaintext, make_csr(device_key(), device_a.uid))
    assert response.status_code == 400
    assert device_a.uid in " ".join(response.json()["csr"])
    assert not DeviceCertificate.objects.exists()


def test_a_key_is_never_certified_twice(world, ca_a, device_a):
    key = device_key()
    _t, first = new_token(world.a, device_a)
    assert post(first, make_csr(key, device_a.uid)).status_code == 201
    _t, second = new_token(world.a, device_a)
    response = post(second, make_csr(key, device_a.uid))
    assert response.status_code == 400
    assert "generate a new key pair" in response.json()["csr"][0]


def test_retired_device_cannot_enroll(world, ca_a, device_a):
    _t, plaintext = new_token(world.a, device_a)
    type(device_a).objects.filter(pk=device_a.pk).update(state=LifecycleState.DECOMMISSIONED)
    response = post(plaintext, make_csr(device_key(), device_a.uid))
    assert response.status_code == 400
    assert "cannot enroll" in response.json()["token"][0]


def test_no_ca_is_a_clear_error(world, device_a):
    _t, plaintext = new_token(world.a, device_a)
    response = post(plaintext, make_csr(device_key(), device_a.uid))
    assert response.status_code == 400
    assert "no certificate authority" in response.json()["authority"][0]


def test_failures_are_throttled(world, ca_a, device_a, settings):
    for _ in range(20):
        post("enr_000000000000_nothing", "x")
    response = post("enr_000000000000_nothing", "x")
    assert response.status_code == 429
    # A good token from the same address still enrolls (issue 15: no NAT-wide lockout).
    _t, plaintext = new_token(world.a, device_a)
    assert post(plaintext, make_csr(device_key(), device_a.uid)).status_code == 201


@pytest.mark.django_db(transaction=True)
def test_concurrent_enrollments_with_one_token_issue_one_certificate():
    from encompass.testing.factories import make_device
    from encompass.testing.world import build_world

    world = build_world()
    services.create_certificate_authority(organization=world.a.org, actor=world.a.user(Role.ADMIN))
    device = make_device(world.a.org, site=world.a.sites[0], state=LifecycleState.PROVISIONED)
    _t, plaintext = new_token(world.a, device)
    csrs = [make_csr(device_key(), device.uid) for _ in range(4)]
    results = []
    barrier = threading.Barrier(len(csrs))

    def attempt(csr):
        try:
            barrier.wait()
            try:
                services.enroll(token=plaintext, csr_pem=csr)
                results.append("issued")
            except Exception as exc:
                results.append(str(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(csr,)) for csr in csrs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("issued") == 1, results
    assert all("already used" in r for r in results if r != "issued")
    assert DeviceCertificate.objects.filter(device=device).count() == 1
