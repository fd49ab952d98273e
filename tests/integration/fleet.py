"""A device and the staff who run it, driven only through the real surfaces (HTTP APIs)."""

import base64
import datetime
import hashlib
import itertools
import uuid
from urllib.parse import quote

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509 import CertificateSigningRequestBuilder, Name, NameAttribute
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from devices.firmware import signing

PROXY = "127.0.0.1"
_seq = itertools.count(1)


def staff(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def ok(response, code=200):
    assert response.status_code == code, (response.status_code, response.content[:2000])
    return response.json() if response.content else None


def image(version):
    return f"firmware image {version} ".encode() * 64 + bytes(range(256))


class Vendor:
    """The device maker: holds the Ed25519 private key; the platform gets the public key."""

    def __init__(self):
        self.private = Ed25519PrivateKey.generate()

    @property
    def public_pem(self):
        return signing.public_pem(self.private.public_key())

    def sign(self, device_type_pk, version, security_version, data):
        from devices.models import DeviceType

        statement = signing.release_statement(
            device_types=[DeviceType.objects.get(pk=device_type_pk)],
            version=version,
            security_version=security_version,
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
        )
        return base64.b64encode(self.private.sign(statement)).decode()


def release(uploader, approver, vendor, org, device_type_pk, version, security_version):
    """Upload a signed release (uploader) and approve it (approver): the four-eyes path."""
    data = image(version)
    body = ok(
        staff(uploader).post(
            "/api/v1/firmware-releases/",
            {
                "organization": org.pk,
                "device_types": [device_type_pk],
                "version": version,
                "security_version": security_version,
                "artifact": SimpleUploadedFile("fw.bin", data),
                "signature": vendor.sign(device_type_pk, version, security_version, data),
                "release_notes": f"Release {version}",
            },
            format="multipart",
        ),
        201,
    )
    approved = ok(staff(approver).post(f"/api/v1/firmware-releases/{body['id']}/approve/", {}))
    assert approved["status"] == "approved"
    return body["id"]


def rollout(operator, org, release_pk, device_type_pk, device_pk, name):
    body = ok(
        staff(operator).post(
            "/api/v1/rollouts/",
            {
                "organization": org.pk,
                "name": name,
                "release": release_pk,
                "device_type": device_type_pk,
                "devices": [device_pk],
                "waves": [{"percent": 100}],
                "soak_minutes": 0,
                "max_start_delay_seconds": 0,
            },
            format="json",
        ),
        201,
    )
    started = ok(staff(operator).post(f"/api/v1/rollouts/{body['id']}/start/"))
    assert started["status"] == "running"
    return body["id"]


class FieldDevice:
    """The device side: its own key, its certificate, and the calls it makes."""

    def __init__(self, uid):
        self.uid = uid
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.certificate_pem = None
        self.security_version = 0

    def csr(self):
        builder = CertificateSigningRequestBuilder().subject_name(
            Name([NameAttribute(NameOID.COMMON_NAME, self.uid)])
        )
        return builder.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)

    def enroll(self, token):
        self.key = ec.generate_private_key(ec.SECP256R1())
        response = APIClient().post(
            "/api/device/v1/enroll", {"token": token, "csr": self.csr().decode()}, format="json"
        )
        body = ok(response, 201)
        self.certificate_pem = body["certificate"]
        return body

    def _headers(self):
        header = "HTTP_" + settings.ENCOMPASS["CLIENT_CERT_HEADER"].upper().replace("-", "_")
        return {header: quote(self.certificate_pem), "REMOTE_ADDR": PROXY}

    def get(self, path, **params):
        return APIClient().get(path, params, **self._headers())

    def post(self, path, body):
        return APIClient().post(path, body, format="json", **self._headers())

    def send(self, *events):
        now = timezone.now().isoformat()
        batch = [
            {"id": str(uuid.uuid4()), "occurred_at": now, "kind": kind, "payload": payload}
            for kind, payload in events
        ]
        return self.post("/api/device/v1/events", batch)

    def heartbeat(self, version, security_version, **extra):
        return self.send(
            (
                "heartbeat",
                {"firmware_version": version, "security_version": security_version, **extra},
            )
        )

    def telemetry(self, **metrics):
        return self.send(("telemetry", {"metrics": metrics}))


def later(minutes):
    return timezone.now() + datetime.timedelta(minutes=minutes)
