"""The OCSP responder (RFC 6960) and per-CA CRLs, queried with Debian's openssl against a live
server: good, revoked (reason and time), unknown, nonces, another organization's CA, GET and
POST, a delegated responder certificate that rotates, and CRLs of a CA that was replaced."""

import base64
import datetime
import urllib.parse
import urllib.request

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import ocsp as x509_ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID
from django.utils import timezone

from devices.identity import services
from devices.identity.choices import RevocationReason
from devices.identity.models import OcspResponder
from devices.identity.services.ocsp import ensure_ocsp_responder
from encompass.audit.models import AuditEntry
from encompass.tenancy.roles import Role

from .conftest import device_key, make_csr, openssl, write

pytestmark = pytest.mark.django_db(transaction=True)


def enroll(device, actor):
    _token, plaintext = services.create_enrollment_token(device, actor=actor)
    return services.enroll(token=plaintext, csr_pem=make_csr(device_key(), device.uid))


@pytest.fixture
def base_url(live_server, settings):
    settings.ENCOMPASS = {**settings.ENCOMPASS, "PUBLIC_BASE_URL": live_server.url}
    return live_server.url


def ask(tmp_path, *args):
    return openssl("ocsp", *args, cwd=tmp_path)


def test_openssl_ocsp_good_revoked_unknown_and_foreign(
    base_url, world, ca_a, ca_b, device_a, device_b, tmp_path
):
    officer = world.a.user(Role.SECURITY_OFFICER)
    good = enroll(device_a, world.a.user(Role.OPERATOR))
    revoked = enroll(device_a, world.a.user(Role.OPERATOR))
    services.revoke_certificate(revoked, actor=officer, reason_code=RevocationReason.KEY_COMPROMISE)
    foreign = enroll(device_b, world.b.user(Role.OPERATOR))

    # The certificate names the responder and its issuer (AIA) and its own CA's CRL.
    cert = good.certificate()
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    by_method = {d.access_method: d.access_location.value for d in aia}
    url = f"{base_url}/pki/{world.a.org.slug}/ocsp"
    assert by_method[AuthorityInformationAccessOID.OCSP] == url
    assert by_method[AuthorityInformationAccessOID.CA_ISSUERS].endswith(f"/ca/{ca_a.pk}/ca.der")
    with urllib.request.urlopen(by_method[AuthorityInformationAccessOID.CA_ISSUERS]) as resp:
        assert x509.load_der_x509_certificate(resp.read()) == ca_a.certificate()

    ca = write(tmp_path, "ca.pem", ca_a.certificate_pem)
    write(tmp_path, "good.pem", good.certificate_pem)
    write(tmp_path, "revoked.pem", revoked.certificate_pem)
    uri = openssl("x509", "-in", "good.pem", "-noout", "-ocsp_uri", cwd=tmp_path).stdout.strip()
    assert uri == url

    common = ("-issuer", ca, "-CAfile", ca, "-url", uri, "-nonce", "-resp_text")
    result = ask(tmp_path, *common, "-cert", "good.pem")
    assert "Response verify OK" in result.stderr, result.stderr + result.stdout
    assert "good.pem: good" in result.stdout
    assert "OCSP Nonce" in result.stdout and "WARNING: no nonce" not in result.stderr
    assert "OCSP Signing" in result.stdout  # the delegated responder certificate rides along

    result = ask(tmp_path, *common, "-cert", "revoked.pem")
    assert "Response verify OK" in result.stderr, result.stderr
    assert "revoked.pem: revoked" in result.stdout
    assert "Reason: keyCompromise" in result.stdout and "Revocation Time:" in result.stdout

    result = ask(tmp_path, *common, "-serial", "0x1234ABCD")
    assert "Response verify OK" in result.stderr, result.stderr
    assert "0x1234ABCD: unknown" in result.stdout

    # Another organization's certificate at this organization's URL: unauthorized, nothing more.
    ca_b_path = write(tmp_path, "cab.pem", ca_b.certificate_pem)
    write(tmp_path, "foreign.pem", foreign.certificate_pem)
    result = ask(tmp_path, "-issuer", ca_b_path, "-cert", "foreign.pem", "-url", uri, "-resp_text")
    assert "Responder Error: unauthorized (6)" in result.stdout + result.stderr
    assert foreign.serial_hex not in result.stdout
    # The same for an organization that does not exist.
    nowhere = f"{base_url}/pki/no-such-org/ocsp"
    result = ask(tmp_path, "-issuer", ca, "-cert", "good.pem", "-url", nowhere, "-resp_text")
    assert "Responder Error: unauthorized (6)" in result.stdout + result.stderr

    # The responder is a delegated certificate issued by the CA for OCSP signing only.
    responder = OcspResponder.objects.get(authority=ca_a)
    rcert = responder.certificate()
    rcert.verify_directly_issued_by(ca_a.certificate())
    eku = rcert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.OCSP_SIGNING]
    assert responder.key_reference.startswith("software:")
    assert AuditEntry.objects.filter(action="identity.ocspresponder.issue").count() == 1


def test_ocsp_get_post_nonce_and_bad_requests(base_url, world, ca_a, device_a):
    good = enroll(device_a, world.a.user(Role.OPERATOR))
    request = (
        x509_ocsp.OCSPRequestBuilder()
        .add_certificate(good.certificate(), ca_a.certificate(), hashes.SHA256())
        .add_extension(x509.OCSPNonce(b"n" * 16), critical=False)
        .build()
    )
    from cryptography.hazmat.primitives.serialization import Encoding

    der = request.public_bytes(Encoding.DER)
    url = f"{base_url}/pki/{world.a.org.slug}/ocsp"
    get_url = f"{url}/{urllib.parse.quote(base64.b64encode(der).decode(), safe='')}"
    with urllib.request.urlopen(get_url) as resp:
        assert resp.headers["Content-Type"] == "application/ocsp-response"
        answer = x509_ocsp.load_der_ocsp_response(resp.read())
    assert answer.response_status == x509_ocsp.OCSPResponseStatus.SUCCESSFUL
    assert answer.certificate_status == x509_ocsp.OCSPCertStatus.GOOD
    nonce = answer.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    assert nonce == b"n" * 16
    assert answer.serial_number == good.certificate().serial_number

    post = urllib.request.Request(
        url, data=b"not an ocsp request", headers={"Content-Type": "application/ocsp-request"}
    )
    with urllib.request.urlopen(post) as resp:
        bad = x509_ocsp.load_der_ocsp_response(resp.read())
    assert bad.response_status == x509_ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    post = urllib.request.Request(url, data=der, headers={"Content-Type": "text/plain"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(post)
    assert err.value.code == 415


@pytest.mark.django_db
def test_responder_rotates_before_expiry(world, ca_a):
    first = ensure_ocsp_responder(ca_a)
    assert ensure_ocsp_responder(ca_a) == first
    later = first.not_after - datetime.timedelta(days=5)
    second = ensure_ocsp_responder(ca_a, now=later)
    assert second != first and second.not_after > first.not_after
    assert second.key_label != first.key_label


def test_replaced_ca_keeps_its_own_crl(base_url, world, ca_a, device_a, tmp_path):
    officer = world.a.user(Role.SECURITY_OFFICER)
    old = enroll(device_a, world.a.user(Role.OPERATOR))
    new_ca = services.create_certificate_authority(
        organization=world.a.org, actor=world.a.user(Role.ADMIN), name="A devices 2027"
    )
    assert not type(ca_a).objects.get(pk=ca_a.pk).is_active
    services.revoke_certificate(old, actor=officer, reason_code=RevocationReason.KEY_COMPROMISE)
    new = enroll(device_a, world.a.user(Role.OPERATOR))
    assert new.authority_id == new_ca.pk

    def crl_url_of(record):
        cdp = record.certificate().extensions.get_extension_for_class(x509.CRLDistributionPoints)
        return cdp.value[0].full_name[0].value

    assert crl_url_of(old).endswith(f"/ca/{ca_a.pk}/crl.der")
    assert crl_url_of(new).endswith(f"/ca/{new_ca.pk}/crl.der")
    with urllib.request.urlopen(crl_url_of(old)) as resp:
        write(tmp_path, "old.crl", resp.read())
    write(tmp_path, "ca-old.pem", ca_a.certificate_pem)
    write(tmp_path, "old.pem", old.certificate_pem)
    result = openssl(
        "crl",
        "-inform",
        "DER",
        "-in",
        "old.crl",
        "-CAfile",
        "ca-old.pem",
        "-noout",
        "-text",
        cwd=tmp_path,
    )
    assert "verify OK" in result.stderr + result.stdout
    assert old.serial_hex in result.stdout.replace(":", "").upper()
    # The organization-wide PEM (named by older certificates) carries every CA's CRL.
    with urllib.request.urlopen(f"{base_url}/pki/{world.a.org.slug}/crl.pem") as resp:
        write(tmp_path, "all.pem", resp.read())
    write(tmp_path, "cas.pem", ca_a.certificate_pem + new_ca.certificate_pem)
    result = openssl(
        "verify",
        "-crl_check",
        "-CAfile",
        "cas.pem",
        "-CRLfile",
        "all.pem",
        "old.pem",
        cwd=tmp_path,
    )
    assert "certificate revoked" in result.stdout + result.stderr
    write(tmp_path, "new.pem", new.certificate_pem)
    result = openssl(
        "verify",
        "-crl_check",
        "-CAfile",
        "cas.pem",
        "-CRLfile",
        "all.pem",
        "new.pem",
        cwd=tmp_path,
    )
    assert "new.pem: OK" in result.stdout, result.stdout + result.stderr
    assert timezone.now() < ca_a.not_after
