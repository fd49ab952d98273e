"""EST (RFC 7030) with the clients a device maker has: curl and openssl, following the RFC's
examples (base64 DER PKCS#10 in, base64 PKCS#7 certs-only out), against a live server."""

import shutil
import subprocess

import pytest

from devices.identity import services
from devices.identity.models import DeviceCertificate
from encompass.audit.models import AuditEntry
from encompass.tenancy.roles import Role

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not shutil.which("curl"), reason="needs curl"),
]


def sh(script, cwd, **env):
    result = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + script],
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result


ENROLL = r"""
openssl ecparam -name prime256v1 -genkey -noout -out device.key
openssl req -new -key device.key -subj "/CN=$CN" -outform DER | openssl base64 > device.b64
curl -sS -o answer.b64 -w '%{http_code} %{content_type}\n' --user "$DEVICE_UID:$TOKEN" \
     -H 'Content-Type: application/pkcs10' -H 'Content-Transfer-Encoding: base64' \
     --data-binary @device.b64 "$BASE/.well-known/est/simpleenroll"
"""
PRINT = r"""
openssl base64 -d -in answer.b64 | openssl pkcs7 -inform DER -print_certs -out device.crt
curl -sS "$BASE/.well-known/est/$ORG/cacerts" | openssl base64 -d \
  | openssl pkcs7 -inform DER -print_certs -out ca.pem
openssl verify -purpose sslclient -CAfile ca.pem device.crt
"""


def test_est_enroll_reenroll_with_curl_and_openssl(live_server, world, ca_a, device_a, tmp_path):
    _token, token = services.create_enrollment_token(device_a, actor=world.a.user(Role.OPERATOR))
    env = {
        "BASE": live_server.url,
        "DEVICE_UID": device_a.uid,
        "TOKEN": token,
        "ORG": world.a.org.slug,
        "CN": "dev_somebody_else",
    }
    # A CSR with another device's CN is refused (400 naming the CSR), the token stays usable.
    result = sh(ENROLL, tmp_path, **env)
    assert result.stdout.startswith("400 text/plain"), result.stdout + result.stderr
    assert "CN must be the device id" in (tmp_path / "answer.b64").read_text()
    # A weak key (RSA 2048 under the default 3072 minimum) too.
    weak = ENROLL.replace(
        "openssl ecparam -name prime256v1 -genkey -noout -out device.key",
        "openssl genrsa -out device.key 2048 2>/dev/null",
    )
    result = sh(weak, tmp_path, **{**env, "CN": device_a.uid})
    assert result.stdout.startswith("400"), result.stdout + result.stderr
    assert "below the policy minimum" in (tmp_path / "answer.b64").read_text()
    assert not DeviceCertificate.objects.filter(device=device_a).exists()

    result = sh(ENROLL + PRINT, tmp_path, **{**env, "CN": device_a.uid})
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("200 application/pkcs7-mime; smime-type=certs-only")
    assert "device.crt: OK" in result.stdout
    issued = DeviceCertificate.objects.get(device=device_a)
    assert issued.certificate_pem.strip() in (tmp_path / "device.crt").read_text()
    assert AuditEntry.objects.filter(action="identity.enrollmenttoken.use").count() == 1

    # The token is one-time: replaying it issues nothing.
    result = sh(ENROLL, tmp_path, **{**env, "CN": device_a.uid})
    assert result.stdout.startswith("401"), result.stdout
    assert "already used" in (tmp_path / "answer.b64").read_text()
    assert DeviceCertificate.objects.filter(device=device_a).count() == 1

    # Re-enrollment with the current certificate through the trusted proxy header.
    reenroll = r"""
openssl ecparam -name prime256v1 -genkey -noout -out next.key
openssl req -new -key next.key -subj "/CN=$DEVICE_UID" -outform DER | openssl base64 > next.b64
curl -sS -o answer.b64 -w '%{http_code}\n' -H 'Content-Type: application/pkcs10' \
     -H "X-Client-Cert: $(python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(open("device.crt").read()))')" \
     --data-binary @next.b64 "$BASE/.well-known/est/simplereenroll"
openssl base64 -d -in answer.b64 | openssl pkcs7 -inform DER -print_certs -out next.crt
openssl verify -purpose sslclient -CAfile ca.pem next.crt
"""
    result = sh(reenroll, tmp_path, **env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("200") and "next.crt: OK" in result.stdout
    renewed = DeviceCertificate.objects.filter(device=device_a).order_by("-pk").first()
    assert renewed.replaces_id == issued.pk

    # Without a certificate there is no re-enrollment.
    no_cert = sh(
        "curl -sS -o /dev/null -w '%{http_code}' -H 'Content-Type: application/pkcs10' "
        '--data-binary @next.b64 "$BASE/.well-known/est/simplereenroll"',
        tmp_path,
        **env,
    )
    assert no_cert.stdout in ("401", "403")


def test_est_token_of_another_device_or_organization(
    live_server, world, ca_a, ca_b, device_a, device_b, tmp_path
):
    _t, token_b = services.create_enrollment_token(device_b, actor=world.b.user(Role.OPERATOR))
    env = {"BASE": live_server.url, "TOKEN": token_b, "ORG": world.a.org.slug}
    # B's token presented as A's device: refused as unknown, and the token stays unused.
    result = sh(ENROLL, tmp_path, **{**env, "DEVICE_UID": device_a.uid, "CN": device_a.uid})
    assert result.stdout.startswith("401"), result.stdout
    assert "Unknown enrollment token" in (tmp_path / "answer.b64").read_text()
    # B's token under A's label: refused the same way.
    labelled = ENROLL.replace("/.well-known/est/simpleenroll", "/.well-known/est/$ORG/simpleenroll")
    result = sh(labelled, tmp_path, **{**env, "DEVICE_UID": device_b.uid, "CN": device_b.uid})
    assert result.stdout.startswith("401"), result.stdout
    assert not DeviceCertificate.objects.exists()
    # csrattrs: the policy's key type, as base64 DER that openssl parses.
    result = sh(
        'curl -sS "$BASE/.well-known/est/$ORG/csrattrs" | openssl base64 -d '
        "| openssl asn1parse -inform DER",
        tmp_path,
        **env,
    )
    assert "prime256v1" in result.stdout and "id-ecPublicKey" in result.stdout, result.stdout


@pytest.mark.skipif(not shutil.which("jq"), reason="needs jq")
def test_documented_est_commands_work(live_server, world, ca_a, device_a, tmp_path):
    from .test_docs_walkthrough import block

    _t, token = services.create_enrollment_token(device_a, actor=world.a.user(Role.OPERATOR))
    env = {
        "BASE": live_server.url,
        "DEVICE_UID": device_a.uid,
        "TOKEN": token,
        "ORG": world.a.org.slug,
    }
    result = sh(block("est"), tmp_path, **env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "device.crt: OK" in result.stdout and "next.crt: OK" in result.stdout
    assert DeviceCertificate.objects.filter(device=device_a).count() == 2
