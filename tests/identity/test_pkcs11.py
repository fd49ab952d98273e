"""CA keys on a PKCS#11 token: SoftHSM2 (Debian's) with a token this test initializes in a
temporary folder. Keys are generated on the token (sensitive, never extractable); certificates,
CRLs and OCSP answers signed there verify with openssl; an absent or locked token is reported
by the system check and /readyz, and an enrollment against it issues nothing."""

import os
import shutil
import subprocess

import pytest
from django.core import checks
from django.test import Client

from devices.identity import pkcs11_store, services
from devices.identity.keystore import KeyStoreError, get_key_store
from devices.identity.models import DeviceCertificate, EnrollmentToken, WrappedKey
from devices.identity.services.ocsp import answer_ocsp
from devices.identity.system_checks import key_store_usable
from encompass.tenancy.roles import Role

from .conftest import device_key, make_csr, openssl, write

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
LABEL, PIN = "encompass-test", "918273"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(MODULE), reason="needs softhsm2"),
]


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory):
    """A fresh SoftHSM2 token in a temporary folder (SOFTHSM2_CONF for this process)."""
    folder = tmp_path_factory.mktemp("softhsm")
    (folder / "tokens").mkdir()
    conf = folder / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {folder / 'tokens'}\nobjectstore.backend = file\n"
        "log.level = ERROR\n"
    )
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(
        [
            shutil.which("softhsm2-util") or "/usr/bin/softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            LABEL,
            "--pin",
            PIN,
            "--so-pin",
            "5647382910",
        ],
        check=True,
        capture_output=True,
        timeout=30,
        env={**os.environ},
    )
    yield conf
    pkcs11_store.reset_sessions()
    if previous is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = previous


@pytest.fixture
def on_token(softhsm, settings):
    settings.ENCOMPASS = {
        **settings.ENCOMPASS,
        "KEY_STORE": "pkcs11",
        "PKCS11": {"MODULE": MODULE, "TOKEN_LABEL": LABEL, "PIN": PIN},
    }
    yield settings
    pkcs11_store.reset_sessions()


def _private_object(label):
    import pkcs11

    opened = pkcs11_store.session()
    return opened.get_key(object_class=pkcs11.ObjectClass.PRIVATE_KEY, label=label)


@pytest.mark.django_db
def test_ca_on_token_signs_certificates_crls_and_ocsp(on_token, world, device_a, tmp_path):
    import pkcs11
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509 import ocsp

    ca = services.create_certificate_authority(
        organization=world.a.org, actor=world.a.user(Role.ADMIN), key_algorithm="ec-p384"
    )
    assert ca.key_reference == f"pkcs11:token={LABEL};object={ca.key_label}"
    assert not WrappedKey.objects.exists()  # nothing of the key in the database
    private = _private_object(ca.key_label)
    assert private[pkcs11.Attribute.SENSITIVE] is True
    assert private[pkcs11.Attribute.EXTRACTABLE] is False
    assert private[pkcs11.Attribute.NEVER_EXTRACTABLE] is True
    assert private[pkcs11.Attribute.LOCAL] is True  # generated on the token

    _t, token = services.create_enrollment_token(device_a, actor=world.a.user(Role.OPERATOR))
    cert = services.enroll(token=token, csr_pem=make_csr(device_key(), device_a.uid))
    services.revoke_certificate(
        cert, actor=world.a.user(Role.SECURITY_OFFICER), reason_code="key_compromise"
    )
    ca.refresh_from_db()
    write(tmp_path, "ca.pem", ca.certificate_pem)
    write(tmp_path, "dev.pem", cert.certificate_pem)
    write(tmp_path, "crl.pem", ca.crl_pem())
    result = openssl("verify", "-CAfile", "ca.pem", "dev.pem", cwd=tmp_path)
    assert "dev.pem: OK" in result.stdout, result.stdout + result.stderr
    result = openssl("crl", "-in", "crl.pem", "-CAfile", "ca.pem", "-noout", cwd=tmp_path)
    assert "verify OK" in result.stdout + result.stderr
    result = openssl(
        "verify",
        "-crl_check",
        "-CAfile",
        "ca.pem",
        "-CRLfile",
        "crl.pem",
        "dev.pem",
        cwd=tmp_path,
    )
    assert "certificate revoked" in result.stdout + result.stderr

    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(cert.certificate(), ca.certificate(), hashes.SHA1())
        .add_extension(x509.OCSPNonce(b"token-nonce-0001"), critical=False)
        .build()
    )
    write(tmp_path, "req.der", request.public_bytes(serialization.Encoding.DER))
    write(tmp_path, "resp.der", answer_ocsp(world.a.org, (tmp_path / "req.der").read_bytes()))
    result = openssl(
        "ocsp",
        "-respin",
        "resp.der",
        "-reqin",
        "req.der",
        "-CAfile",
        "ca.pem",
        "-resp_text",
        cwd=tmp_path,
    )
    assert "Response verify OK" in result.stderr, result.stdout + result.stderr
    assert "Cert Status: revoked" in result.stdout
    assert "Revocation Reason: keyCompromise" in result.stdout
    responder = ca.ocsp_responders.get()
    assert responder.key_reference.startswith("pkcs11:")
    assert _private_object(responder.key_label)[pkcs11.Attribute.EXTRACTABLE] is False


@pytest.mark.django_db
def test_absent_or_locked_token_is_reported_and_issues_nothing(on_token, world, device_a):
    ca = services.create_certificate_authority(
        organization=world.a.org, actor=world.a.user(Role.ADMIN)
    )
    assert key_store_usable() == []
    _t, token = services.create_enrollment_token(device_a, actor=world.a.user(Role.OPERATOR))
    for broken, message in (
        ({"TOKEN_LABEL": "not-plugged-in"}, "is not present"),
        ({"PIN": "000000"}, "refused the PIN"),
    ):
        pkcs11_store.reset_sessions()
        on_token.ENCOMPASS = {
            **on_token.ENCOMPASS,
            "PKCS11": {"MODULE": MODULE, "TOKEN_LABEL": LABEL, "PIN": PIN, **broken},
        }
        errors = key_store_usable()
        assert [e.id for e in errors] == ["identity.E001"] and message in errors[0].msg
        assert isinstance(errors[0], checks.Error)
        response = Client().get("/readyz")
        assert response.status_code == 503
        assert message in response.json()["checks"]["key_store"]
        with pytest.raises(KeyStoreError, match=message):
            services.enroll(token=token, csr_pem=make_csr(device_key(), device_a.uid))
        answer = Client().post(
            "/api/device/v1/enroll",
            {"token": token, "csr": make_csr(device_key(), device_a.uid)},
            content_type="application/json",
        )
        assert answer.status_code == 503 and "nothing was issued" in answer.json()["detail"]
        assert not DeviceCertificate.objects.exists()
        assert EnrollmentToken.objects.get(device=device_a).used_at is None
    with pytest.raises(KeyStoreError):
        get_key_store().load_private_key(ca.key_reference, label=ca.key_label)


@pytest.mark.django_db
def test_firmware_keys_sign_on_the_token(on_token, world):
    import pkcs11
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    from devices.firmware.services.keys import (
        create_platform_signing_key,
        manifest_key_for,
        manifest_private_key,
        sign_with_platform_key,
    )

    admin = world.a.user(Role.ADMIN)
    key = create_platform_signing_key(organization=world.a.org, name="line 3", actor=admin)
    assert key.private_key_ref.startswith("pkcs11:")
    signature = sign_with_platform_key(key, b"release statement", actor=admin)
    load_pem_public_key(key.public_key.encode()).verify(signature, b"release statement")
    manifest = manifest_key_for(world.a.org)
    assert manifest.private_key_ref.startswith("pkcs11:")
    body = b'{"manifest": 1}'
    load_pem_public_key(manifest.public_key.encode()).verify(
        manifest_private_key(manifest).sign(body), body
    )
    label = pkcs11_store.Pkcs11KeyStore._label(manifest.private_key_ref)
    assert _private_object(label)[pkcs11.Attribute.EXTRACTABLE] is False
    assert not WrappedKey.objects.exists()


@pytest.mark.django_db
def test_move_software_ca_key_to_token(
    settings, softhsm, world, device_a, tmp_path, django_capture_on_commit_callbacks
):
    from django.core.management import call_command

    from encompass.audit.models import AuditEntry

    ca = services.create_certificate_authority(  # software, before the token
        organization=world.a.org, actor=world.a.user(Role.ADMIN)
    )
    answer_ocsp(world.a.org, b"")  # (malformed: no responder needed)
    from devices.identity.services.ocsp import ensure_ocsp_responder

    ensure_ocsp_responder(ca)
    assert ca.key_reference.startswith("software:") and WrappedKey.objects.count() == 2
    settings.ENCOMPASS = {
        **settings.ENCOMPASS,
        "KEY_STORE": "pkcs11",
        "PKCS11": {"MODULE": MODULE, "TOKEN_LABEL": LABEL, "PIN": PIN},
    }
    officer = world.a.user(Role.SECURITY_OFFICER)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("move_ca_key_to_token", actor=officer.username)
    ca.refresh_from_db()
    assert ca.key_reference.startswith("pkcs11:")
    assert not WrappedKey.objects.exists()  # the software copies are gone
    assert (
        AuditEntry.objects.filter(action="identity.certificateauthority.move_key_to_token").count()
        == 1
    )
    call_command("move_ca_key_to_token", actor=officer.username)  # rerun: nothing to do
    # The CA still issues, now on the token, and what it issued chains to the same certificate.
    _t, token = services.create_enrollment_token(device_a, actor=world.a.user(Role.OPERATOR))
    cert = services.enroll(token=token, csr_pem=make_csr(device_key(), device_a.uid))
    write(tmp_path, "ca.pem", ca.certificate_pem)
    write(tmp_path, "dev.pem", cert.certificate_pem)
    assert "dev.pem: OK" in openssl("verify", "-CAfile", "ca.pem", "dev.pem", cwd=tmp_path).stdout
    pkcs11_store.reset_sessions()
