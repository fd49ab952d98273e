"""The deployment recipe as a test: Debian's nginx runs deploy/nginx/encompass.conf as shipped, in
front of a production-mode web process started with the shipped systemd unit's command line, with
the device trust written by deploy/encompass-device-trust. Devices use curl and openssl s_client
(docs/identity.md's enrollment walk-through, run as written) through it; browsers and websockets
go through the same proxy.

Clients connect from 127.0.0.5 while nginx reaches the web process from 127.0.0.1 (the trusted
proxy), so a recipe that let the client's address stand in for the proxy's would fail here."""

import asyncio
import datetime
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import time
from urllib.parse import quote

import httpx
import pytest
import websockets
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.db import connection
from django.utils import timezone

from devices.choices import LifecycleState
from devices.identity import services as identity
from devices.identity.models import DeviceCertificate
from devices.services import rotate_device_token
from encompass.events.models import Event
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device
from encompass.testing.servers import ROOT, WebServer, database_url, free_port
from tests.identity.test_docs_walkthrough import block

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

DEPLOY = ROOT / "deploy"
CLIENT_ADDRESS = "127.0.0.5"  # where curl and openssl connect from; not a trusted proxy
PASSWORD = "a-long-enough-password-for-the-proxy-1"


def nginx_binary():
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is not installed (.ci/run installs Debian's nginx)")
        pytest.skip("needs Debian's nginx (apt-get install nginx)")
    return found


def unit_exec_start(name, install_dir):
    """The ExecStart= of a shipped systemd unit, with the install folder replaced by ``install_dir``."""
    text = (DEPLOY / "systemd" / name).read_text()
    line = re.search(r"^ExecStart=(.+)$", text, re.M).group(1)
    return line.replace("/opt/encompass", str(install_dir)).split()


# --- TLS material for the proxy's own certificate ---------------------------------------------


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(path, key):
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _certificate(subject, issuer, public_key, signing_key, *, ca, sans=()):
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


def make_tls(folder):
    """A private CA (the clients' trust anchor) and the proxy's certificate for localhost."""
    import ipaddress

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("Proxy test CA", "Proxy test CA", ca_key.public_key(), ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = _certificate("localhost", "Proxy test CA", key.public_key(), ca_key, ca=False, sans=sans)
    (folder / "server-ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(folder / "server.key", key)
    return folder / "server-ca.pem"


def foreign_client_certificate(folder, common_name):
    """A client certificate from a CA that no organization of the platform has."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _certificate(common_name, "Somebody else's CA", key.public_key(), ca_key, ca=False)
    (folder / "foreign.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(folder / "foreign.key", key)
    return folder / "foreign.crt", folder / "foreign.key"


# --- the stack ------------------------------------------------------------------------------


class Proxy:
    """nginx on a free port running deploy/nginx/encompass.conf as shipped."""

    def __init__(self, folder, upstream_port):
        self.folder = folder
        self.port = free_port()
        self.conf = folder / "nginx.conf"
        site = folder / "encompass"
        site.mkdir()
        (site / "listen.conf").write_text(
            f"listen 127.0.0.1:{self.port} ssl;\nserver_name localhost;\n"
            f"ssl_certificate {folder / 'server.pem'};\nssl_certificate_key {folder / 'server.key'};\n"
        )
        (site / "upstream.conf").write_text(f"server 127.0.0.1:{upstream_port};\n")
        temp = "\n".join(
            f"  {kind}_temp_path {folder / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        user = "user root;\n" if os.geteuid() == 0 else ""
        self.conf.write_text(
            f"{user}worker_processes 1;\npid {folder / 'nginx.pid'};\n"
            f"error_log {folder / 'error.log'} info;\nevents {{ worker_connections 256; }}\n"
            f"http {{\n  access_log {folder / 'access.log'};\n{temp}\n"
            f"  include {DEPLOY / 'nginx' / 'encompass.conf'};\n}}\n"
        )
        self.binary = nginx_binary()
        self.process = None

    @property
    def reload_command(self):
        return f"{self.binary} -p {self.folder} -c {self.conf} -s reload"

    def start(self):
        check = subprocess.run(
            [self.binary, "-t", "-p", str(self.folder), "-c", str(self.conf)],
            capture_output=True,
            text=True,
        )
        assert check.returncode == 0, check.stderr
        self.process = subprocess.Popen(
            [self.binary, "-p", str(self.folder), "-c", str(self.conf), "-g", "daemon off;"],
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket_to(self.port):
                    return self
            except OSError:
                assert self.process.poll() is None, self.process.stderr.read().decode()
                time.sleep(0.1)
        raise AssertionError("nginx did not listen in time")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def error_log(self):
        path = self.folder / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""


def socket_to(port):
    import socket

    return socket.create_connection(("127.0.0.1", port), timeout=1)


def refresh_trust(base, folder, slugs, reload=""):
    result = subprocess.run(
        [str(DEPLOY / "encompass-device-trust"), base, str(folder / "encompass"), *slugs],
        env={**os.environ, "RELOAD": reload},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def production_env(var):
    """The environment docs/settings.md requires with ENCOMPASS_ENV=production."""
    return {
        "ENCOMPASS_ENV": "production",
        "SECRET_KEY": settings.SECRET_KEY,  # keys the token and API-key hashes the test writes
        "ALLOWED_HOSTS": "localhost,127.0.0.1",
        "REDIS_URL": settings.REDIS_URL,
        "ENCOMPASS_KEY_ENCRYPTION_KEY": settings.KEY_ENCRYPTION_KEY,
        "ENCOMPASS_VAR_DIR": str(var),
        "ENCOMPASS_EVENT_TAIL": "0",
        "SECURE_SSL_REDIRECT": "false",  # the proxy listens on HTTPS only
        "LOG_LEVEL": "WARNING",
        "DEBUG": None,
    }


@pytest.fixture(scope="module")
def var_dir(tmp_path_factory):
    """``manage.py collectstatic`` once for the module, as at each deploy (docs/deployment.md)."""
    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        pytest.skip("needs PostgreSQL and REDIS_URL (make test)")
    nginx_binary()
    var = tmp_path_factory.mktemp("var")
    env = {k: v for k, v in {**os.environ, **production_env(var)}.items() if v is not None}
    env["DATABASE_URL"] = database_url(connection.settings_dict)
    env.pop("TEST_DATABASE_NAME", None)
    collect = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "manage.py", "collectstatic", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert collect.returncode == 0, collect.stderr
    return var


@pytest.fixture
def stack(world, tmp_path, var_dir):
    for tenant in (world.a, world.b):
        identity.create_certificate_authority(
            organization=tenant.org, actor=tenant.user(Role.ADMIN)
        )

    db_url = database_url(connection.settings_dict)
    command = unit_exec_start("encompass-web@.service", ROOT)
    command = [part.replace("%i", "{port}") for part in command]
    web = WebServer(db_url, tmp_path / "web.log", env=production_env(var_dir), command=command)
    with web:
        nginx_dir = tmp_path / "nginx"
        nginx_dir.mkdir()
        server_ca = make_tls(nginx_dir)
        proxy = Proxy(nginx_dir, web.port)
        print(refresh_trust(web.url, nginx_dir, [world.a.org.slug, world.b.org.slug]))
        proxy.start()
        home = tmp_path / "home"
        home.mkdir()
        # curl reads ~/.curlrc: trust the proxy's CA and connect from the client address.
        (home / ".curlrc").write_text(f'cacert = "{server_ca}"\ninterface = {CLIENT_ADDRESS}\n')
        try:
            yield {
                "web": web,
                "proxy": proxy,
                "base": f"https://localhost:{proxy.port}",
                "server_ca": server_ca,
                "home": home,
                "folder": tmp_path,
            }
        finally:
            proxy.stop()
            print(proxy.error_log()[-3000:])
            print(web.output()[-3000:])


def sh(stack, script, **env):
    result = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + script],
        cwd=stack["folder"],
        env={"PATH": "/usr/bin:/bin:/usr/sbin", "HOME": str(stack["home"]), "BASE": stack["base"]}
        | env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result


def curl_status(stack, *args):
    """curl (reading ~/.curlrc) with ``args``: (HTTP status, body)."""
    result = subprocess.run(
        ["curl", "-s", "-o", str(stack["folder"] / "body.out"), "-w", "%{http_code}", *args],
        env={"PATH": "/usr/bin:/bin", "HOME": str(stack["home"])},
        capture_output=True,
        text=True,
        timeout=30,
    )
    body = (stack["folder"] / "body.out").read_text(errors="replace")
    return int(result.stdout or 0), body


def events_batch(event_id):
    return json.dumps(
        [
            {
                "id": event_id,
                "kind": "telemetry",
                "occurred_at": timezone.now().isoformat(),
                "payload": {"metrics": {"temp_c": 21.5}},
            }
        ]
    )


def test_devices_enroll_report_and_poll_through_nginx_with_mutual_tls(world, stack):
    device = make_device(world.a.org, site=world.a.sites[0], state=LifecycleState.PROVISIONED)
    _token, plaintext = identity.create_enrollment_token(device, actor=world.a.user(Role.OPERATOR))
    base, folder = stack["base"], stack["folder"]

    # docs/identity.md's walk-through, as written, through the proxy.
    enrolled = sh(stack, block("enroll"), DEVICE_UID=device.uid, TOKEN=plaintext)
    assert enrolled.returncode == 0, enrolled.stdout + enrolled.stderr
    assert "device.crt: OK" in enrolled.stdout
    certificate = DeviceCertificate.objects.get(device=device)
    mtls = ["--cert", str(folder / "device.crt"), "--key", str(folder / "device.key")]

    # Events with the certificate.
    status, body = curl_status(
        stack, *mtls, "-X", "POST", f"{base}/api/device/v1/events",
        "-H", "Content-Type: application/json", "-d", events_batch("through-nginx-1"),
    )  # fmt: skip
    assert status == 200, body
    assert json.loads(body)["accepted"] == 1
    assert Event.objects.filter(device=device, kind="device.telemetry").count() == 1

    # Poll for an update (none is waiting) with curl, then with openssl s_client by hand.
    status, body = curl_status(stack, *mtls, f"{base}/api/device/v1/update")
    assert status in (200, 204), body
    request = (
        f"GET /api/device/v1/update HTTP/1.1\r\nHost: localhost:{stack['proxy'].port}\r\n"
        "Connection: close\r\n\r\n"
    )
    s_client = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{stack['proxy'].port}",
         "-servername", "localhost", "-CAfile", str(stack["server_ca"]),
         "-cert", str(folder / "device.crt"), "-key", str(folder / "device.key"),
         "-verify_return_error", "-quiet"],
        input=request, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert re.match(r"HTTP/1\.1 20[04]", s_client.stdout), s_client.stdout + s_client.stderr

    # The same certificate polls hawkBit DDI (what SWUpdate and RAUC speak) through the proxy.
    status, body = curl_status(
        stack, *mtls, f"{base}/{world.a.org.slug}/controller/v1/{device.uid}",
        "-H", "Accept: application/hal+json",
    )  # fmt: skip
    assert status == 200, body
    assert "polling" in json.loads(body)["config"]

    # No certificate: the device API does not know who this is.
    status, body = curl_status(
        stack, "-X", "POST", f"{base}/api/device/v1/events",
        "-H", "Content-Type: application/json", "-d", events_batch("no-cert"),
    )  # fmt: skip
    assert status == 401, body

    # A client-supplied certificate header is replaced by the proxy, never believed.
    forged = quote((folder / "device.crt").read_text(), safe="")
    status, body = curl_status(
        stack, "-X", "POST", f"{base}/api/device/v1/events", "-H", f"X-Client-Cert: {forged}",
        "-H", "Content-Type: application/json", "-d", events_batch("forged-header"),
    )  # fmt: skip
    assert status == 401, body

    # A certificate from a CA no organization has: nginx refuses the handshake's certificate.
    foreign_crt, foreign_key = foreign_client_certificate(folder, device.uid)
    status, body = curl_status(
        stack, "--cert", str(foreign_crt), "--key", str(foreign_key),
        f"{base}/api/device/v1/update",
    )  # fmt: skip
    assert status == 400 and "SSL certificate error" in body, body

    # Another organization's CA signing a certificate for this device: nginx lets it through
    # (that CA is in the bundle), Encompass refuses it (it never issued it).
    other_ca = identity.active_authority(world.b.org)
    key = ec.generate_private_key(ec.SECP256R1())
    impostor = (
        x509.CertificateBuilder()
        .subject_name(_name(device.uid))
        .issuer_name(other_ca.certificate().subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1))
        .not_valid_after(datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(identity.signing_key(other_ca), hashes.SHA256())
    )
    (folder / "impostor.crt").write_bytes(impostor.public_bytes(serialization.Encoding.PEM))
    _write_key(folder / "impostor.key", key)
    status, body = curl_status(
        stack, "--cert", str(folder / "impostor.crt"), "--key", str(folder / "impostor.key"),
        "-X", "POST", f"{base}/api/device/v1/events",
        "-H", "Content-Type: application/json", "-d", events_batch("impostor"),
    )  # fmt: skip
    assert status == 401, body
    assert Event.objects.filter(device=device, kind="device.telemetry").count() == 1

    # Revoked: Encompass refuses at once; after the trust refresh nginx refuses it too.
    identity.revoke_certificate(
        certificate,
        actor=world.a.user(Role.SECURITY_OFFICER),
        reason_code="key_compromise",
        note="test",
    )
    status, body = curl_status(stack, *mtls, f"{base}/api/device/v1/update")
    assert status == 401, body
    out = refresh_trust(
        stack["web"].url, stack["proxy"].folder, [world.a.org.slug, world.b.org.slug],
        reload=stack["proxy"].reload_command,
    )  # fmt: skip
    assert "changed=1" in out
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status, body = curl_status(stack, *mtls, f"{base}/api/device/v1/update")
        if status == 400:
            break
        time.sleep(0.2)
    assert status == 400 and "SSL certificate error" in body, (status, body)


def test_token_devices_browsers_and_websockets_through_the_same_proxy(world, stack):
    base = stack["base"]
    device = make_device(world.a.org, site=world.a.sites[0], state=LifecycleState.DEPLOYED)
    device, token = rotate_device_token(device, actor=world.a.user(Role.ADMIN))
    operator = world.a.user(Role.OPERATOR)
    operator.set_password(PASSWORD)
    operator.save()
    tls = ssl.create_default_context(cafile=str(stack["server_ca"]))

    async def scenario():
        transport = httpx.AsyncHTTPTransport(verify=tls, local_address=CLIENT_ADDRESS)
        async with httpx.AsyncClient(base_url=base, transport=transport) as browser:
            page = await browser.get("/account/sign-in/")
            assert page.status_code == 200
            assert "max-age" in page.headers.get("strict-transport-security", "")
            csrf = browser.cookies["csrftoken"]
            signed_in = await browser.post(
                "/account/sign-in/",
                data={"username": operator.username, "password": PASSWORD,
                      "csrfmiddlewaretoken": csrf},
                headers={"Referer": f"{base}/account/sign-in/", "Origin": base},
            )  # fmt: skip
            assert signed_in.status_code == 302, signed_in.text[:2000]
            overview = await browser.get("/overview/")
            assert overview.status_code == 200
            cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())

            ws_url = base.replace("https://", "wss://") + "/ws/events/"
            async with websockets.connect(
                ws_url, ssl=tls, additional_headers={"Cookie": cookie, "Origin": base}
            ) as ws:
                subscribe = {"type": "subscribe", "scope": "device", "id": device.pk, "since": None}
                await ws.send(json.dumps(subscribe))
                reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert reply["type"] == "subscribed", reply
                async with httpx.AsyncClient(base_url=base, transport=transport) as device_http:
                    sent = await device_http.post(
                        "/api/device/v1/events",
                        content=events_batch("token-through-nginx"),
                        headers={"Authorization": f"Device {token}",
                                 "Content-Type": "application/json"},
                    )  # fmt: skip
                    assert sent.status_code == 200, sent.text
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 15))
                    events = frame.get("events") or [frame.get("event") or frame]
                    if any(e.get("kind") == "device.telemetry" for e in events if e):
                        return
                raise AssertionError("the device's event never reached the socket")

    asyncio.run(scenario())


def test_systemd_units_verify(tmp_path):
    """systemd-analyze verify on the shipped units, installed under this checkout's folder."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("needs systemd-analyze")
    units = tmp_path / "units"
    units.mkdir()
    for unit in (DEPLOY / "systemd").iterdir():
        text = unit.read_text().replace(
            "/opt/encompass/.venv/bin/python", str(ROOT / ".venv/bin/python")
        )
        (units / unit.name).write_text(text.replace("/opt/encompass", str(ROOT)))
    web = units / "encompass-web@.service"
    (units / "encompass-web@8000.service").write_text(web.read_text())
    web.unlink()
    result = subprocess.run(
        [analyze, "verify", "--man=no", *sorted(str(u) for u in units.iterdir())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        # A unit file outside the machine's unit folders names its targets as they are there.
        if line.strip() and "not found" not in line.lower()
    ]
    assert result.returncode == 0 and not problems, result.stdout + result.stderr
