"""Firmware for tests: a vendor holding its Ed25519 key, releases uploaded and approved through
the services, deployed devices to offer them to (tests/firmware and the fault suite use them)."""

import base64
import hashlib
import itertools

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.files.base import ContentFile

from devices.choices import LifecycleState
from devices.firmware import services, signing
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device

_seq = itertools.count(1)


def use_tmp_media(settings, tmp_path):
    """Uploaded images go to ``tmp_path`` on the file system (pytest's ``settings`` fixture)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    }


class Vendor:
    """A device maker holding its private key; the platform only gets the public key."""

    def __init__(self, private=None):
        self.private = private or Ed25519PrivateKey.generate()

    @property
    def public_pem(self):
        return signing.public_pem(self.private.public_key())

    def sign(self, *, device_types, version, security_version, data):
        statement = signing.release_statement(
            device_types=device_types,
            version=version,
            security_version=security_version,
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
        )
        return base64.b64encode(self.private.sign(statement)).decode()


def register_vendor(tenant, vendor=None, name="Acme vendor key"):
    vendor = vendor or Vendor()
    key = services.register_signing_key(
        organization=tenant.org,
        name=name,
        public_key=vendor.public_pem,
        actor=tenant.user(Role.SECURITY_OFFICER),
    )
    vendor.key = key
    return vendor


def image(version):
    return f"firmware image {version} ".encode() * 64 + bytes(range(256))


def upload(tenant, vendor, device_types, version, security_version, *, data=None, **extra):
    data = data if data is not None else image(version)
    signature = extra.pop("signature", None) or vendor.sign(
        device_types=device_types, version=version, security_version=security_version, data=data
    )
    return services.upload_release(
        organization=tenant.org,
        device_types=device_types,
        version=version,
        security_version=security_version,
        artifact=ContentFile(data, name="fw.bin"),
        signature=signature,
        actor=extra.pop("actor", tenant.user(Role.OPERATOR)),
        **extra,
    )


def approved(tenant, vendor, device_types, version, security_version, **extra):
    release = upload(tenant, vendor, device_types, version, security_version, **extra)
    return services.approve_release(release, actor=tenant.user(Role.SECURITY_OFFICER))


def deployed_devices(tenant, device_type, n, *, version="1.0.0", security_version=1, site=None):
    return [
        make_device(
            tenant.org,
            site=site or tenant.sites[0],
            device_type=device_type,
            state=LifecycleState.DEPLOYED,
            firmware_version=version,
            firmware_security_version=security_version,
            name=f"dev-{next(_seq)}",
        )
        for _ in range(n)
    ]
