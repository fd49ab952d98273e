"""The renewal load of short-lived certificates: what one web process spends on a device's
certificate renewal, against what it spends on the same device's ordinary request.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/encompass .venv/bin/python bench/renewal.py

Set-up: one organization with the short-lived policy (``BENCH_RENEWAL_HOURS``, 24), a CA in the
software key store, ``BENCH_RENEWAL_DEVICES`` (200) enrolled devices. Then against a real web
process (``python -m encompass.server``), over one keep-alive connection from loopback (the
trusted proxy), with each device's certificate in the ``X-Client-Cert`` header as nginx forwards
it (deploy/nginx):

* baseline: each device posts one telemetry event (``POST /api/device/v1/events``);
* renewal: each device renews (``POST /api/device/v1/certificate/renew`` with a fresh CSR; the
  CSR's key is made before the clock starts, as a device would have it ready).

Prints both rates, the ratio (renewal cost / ordinary request), and what it means for a fleet:
with certificates of H hours renewed at half-life every device renews every H/2 hours, so a
fleet of F devices asks for F / (H/2 * 3600) renewals a second. The fleet one web process carries
if renewals may take a tenth of it is printed too. Creates (and drops) its own database.
"""

import os
import sys
import time
from http.client import HTTPConnection
from urllib.parse import quote

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import WebProcess, drop_database, recreate_database, setup_django

DEVICES = int(os.environ.get("BENCH_RENEWAL_DEVICES", "200"))
HOURS = int(os.environ.get("BENCH_RENEWAL_HOURS", "24"))
SHARE = 0.10  # the share of one web process renewals may take


def prepare():
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509 import CertificateSigningRequestBuilder, Name, NameAttribute
    from cryptography.x509.oid import NameOID

    from devices.choices import LifecycleState
    from devices.identity import services
    from devices.identity.models import IdentityPolicy
    from encompass.tenancy.roles import Role
    from encompass.testing.factories import make_device, make_member, make_org, make_site

    def csr(uid):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = CertificateSigningRequestBuilder().subject_name(
            Name([NameAttribute(NameOID.COMMON_NAME, uid)])
        )
        return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()

    org = make_org("Renewal bench")
    site = make_site(org)
    admin = make_member(org, Role.ADMIN)
    operator = make_member(org, Role.OPERATOR)
    services.create_certificate_authority(organization=org, actor=admin, name="Bench CA")
    services.ensure_policy(org, actor=admin)
    IdentityPolicy.objects.filter(organization=org).update(short_lived_hours=HOURS)
    devices = []
    for _ in range(DEVICES):
        device = make_device(org, site=site, state=LifecycleState.DEPLOYED)
        _t, token = services.create_enrollment_token(device, actor=operator)
        cert = services.enroll(token=token, csr_pem=csr(device.uid))
        devices.append((device.uid, quote(cert.certificate_pem), csr(device.uid)))
    return devices


def run(conn, requests):
    started = time.perf_counter()
    for path, body, header in requests:
        conn.request(
            "POST",
            path,
            body=body,
            headers={"Content-Type": "application/json", "X-Client-Cert": header},
        )
        response = conn.getresponse()
        response.read()
        if response.status not in (200, 201, 202):
            raise SystemExit(f"{path} answered {response.status}")
    return time.perf_counter() - started


def main():
    import json

    url = recreate_database()
    try:
        setup_django(url)
        devices = prepare()
        server = WebProcess(url)
        try:
            conn = HTTPConnection("127.0.0.1", server.port, timeout=30)
            at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            events = [
                (
                    "/api/device/v1/events",
                    json.dumps(
                        [
                            {
                                "id": f"bench-{uid}",
                                "kind": "telemetry",
                                "occurred_at": at,
                                "payload": {"metrics": {"temp_c": 21.5}},
                            }
                        ]
                    ),
                    header,
                )
                for uid, header, _csr in devices
            ]
            renewals = [
                ("/api/device/v1/certificate/renew", json.dumps({"csr": csr}), header)
                for _uid, header, csr in devices
            ]
            run(conn, events[:10])  # warm the process (imports, connections)
            baseline = run(conn, events)
            renewal = run(conn, renewals)
        finally:
            server.stop()
    finally:
        drop_database()

    base_rate, renew_rate = DEVICES / baseline, DEVICES / renewal
    needed_per_device = 1 / (HOURS / 2 * 3600)
    fleet = SHARE * renew_rate / needed_per_device
    print(f"devices: {DEVICES}, certificates of {HOURS} h renewed at half-life")
    print(f"baseline  (event POST, cert-authenticated): {base_rate:8.1f} requests/s")
    print(f"renewal   (CSR -> new certificate):         {renew_rate:8.1f} renewals/s")
    print(f"ratio renewal / baseline request cost: {baseline and renewal / baseline:.2f}x")
    print(
        f"fleet one web process carries with renewals at {SHARE:.0%} of it: "
        f"{fleet:,.0f} devices ({needed_per_device * 1e6:.1f} renewals/s per million devices "
        f"= {needed_per_device * 1e6 / renew_rate:.2f} processes per million)"
    )


if __name__ == "__main__":
    main()
