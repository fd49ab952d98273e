"""Upload verification (hash and Ed25519 signature over the release statement) and approval."""

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile

from devices.firmware import services
from devices.firmware.choices import ReleaseStatus
from devices.firmware.models import FirmwareRelease, SigningKey
from encompass.audit.models import AuditEntry
from encompass.exceptions import NotPermitted
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device_type

from .conftest import Vendor, image, register_vendor, upload

pytestmark = pytest.mark.django_db


def refused(field, func, *args, **kwargs):
    before = FirmwareRelease.objects.count()
    with pytest.raises(ValidationError) as info:
        func(*args, **kwargs)
    assert field in info.value.message_dict, info.value.message_dict
    assert FirmwareRelease.objects.count() == before
    return info.value.message_dict[field][0]


def test_a_correctly_signed_image_is_stored_as_a_draft(world, vendor, sensor):
    release = upload(world.a, vendor, [sensor], "2.0.0", 3, cves_fixed="cve-2024-1, CVE-2024-2")
    assert release.status == ReleaseStatus.DRAFT
    assert release.signing_key == vendor.key
    assert release.size == len(image("2.0.0"))
    assert release.cves_fixed == ["CVE-2024-1", "CVE-2024-2"]
    with release.artifact.open("rb") as fh:
        assert fh.read() == image("2.0.0")
    assert AuditEntry.objects.filter(action="firmware.firmwarerelease.create").exists()


def test_unsigned_image_is_refused(world, vendor, sensor):
    message = refused(
        "signature",
        services.upload_release,
        organization=world.a.org,
        device_types=[sensor],
        version="2.0.0",
        security_version=1,
        artifact=ContentFile(b"x" * 100, name="a.bin"),
        signature="",
        actor=world.a.user(Role.OPERATOR),
    )
    assert "unsigned" in message


def test_tampered_byte_is_refused(world, vendor, sensor):
    data = image("2.0.0")
    signature = vendor.sign(device_types=[sensor], version="2.0.0", security_version=1, data=data)
    tampered = bytearray(data)
    tampered[100] ^= 0x01
    refused(
        "signature",
        upload,
        world.a,
        vendor,
        [sensor],
        "2.0.0",
        1,
        data=bytes(tampered),
        signature=signature,
    )


def test_signature_by_an_unregistered_key_is_refused(world, vendor, sensor):
    stranger = Vendor()
    data = image("2.0.0")
    signature = stranger.sign(device_types=[sensor], version="2.0.0", security_version=1, data=data)
    refused(
        "signature", upload, world.a, vendor, [sensor], "2.0.0", 1, data=data, signature=signature
    )


def test_signature_over_other_metadata_is_refused(world, vendor, sensor):
    """A valid image re-published under another version or security version does not verify."""
    data = image("2.0.0")
    signature = vendor.sign(device_types=[sensor], version="2.0.0", security_version=1, data=data)
    refused(
        "signature", upload, world.a, vendor, [sensor], "2.0.1", 1, data=data, signature=signature
    )
    refused(
        "signature", upload, world.a, vendor, [sensor], "2.0.0", 0, data=data, signature=signature
    )


def test_revoked_key_no_longer_verifies(world, vendor, sensor):
    services.revoke_signing_key(
        vendor.key, actor=world.a.user(Role.SECURITY_OFFICER), reason="leaked"
    )
    refused("signature", upload, world.a, vendor, [sensor], "2.0.0", 1)
    refused("signing_key", upload, world.a, vendor, [sensor], "2.0.0", 1, signing_key=vendor.key)


def test_another_organizations_key_does_not_verify(world, sensor):
    other = register_vendor(world.b)
    refused("signature", upload, world.a, other, [sensor], "2.0.0", 1)


def test_client_supplied_hash_must_match(world, vendor, sensor):
    message = refused("sha256", upload, world.a, vendor, [sensor], "2.0.0", 1, sha256="0" * 64)
    assert "not the" in message


def test_malformed_signature_and_version_are_named(world, vendor, sensor):
    refused("signature", upload, world.a, vendor, [sensor], "2.0.0", 1, signature="not base64!")
    refused(
        "signature",
        upload,
        world.a,
        vendor,
        [sensor],
        "2.0.0",
        1,
        signature=base64.b64encode(b"short").decode(),
    )
    refused("version", upload, world.a, vendor, [sensor], "banana", 1, signature="AAAA")


def test_size_limit(world, vendor, sensor, settings):
    settings.ENCOMPASS = {**settings.ENCOMPASS, "FIRMWARE_MAX_ARTIFACT_BYTES": 100}
    refused("artifact", upload, world.a, vendor, [sensor], "2.0.0", 1)


def test_security_version_cannot_go_down_as_versions_go_up(world, vendor, sensor):
    upload(world.a, vendor, [sensor], "2.0.0", 5)
    refused("security_version", upload, world.a, vendor, [sensor], "2.1.0", 4)
    refused("security_version", upload, world.a, vendor, [sensor], "1.9.0", 6)
    refused("version", upload, world.a, vendor, [sensor], "2.0.0", 5)


def test_versions_compare_properly(world, vendor, sensor):
    a = upload(world.a, vendor, [sensor], "1.10.0", 2)
    b = upload(world.a, vendor, [sensor], "1.9.0", 1)
    assert a.parsed_version > b.parsed_version


def test_platform_held_key_signs_here_and_is_encrypted_at_rest(world, sensor):
    key = services.create_platform_signing_key(
        organization=world.a.org, name="In-house", actor=world.a.user(Role.SECURITY_OFFICER)
    )
    assert key.private_key_ref and "PRIVATE" not in key.public_key
    from devices.identity.models import WrappedKey

    stored = WrappedKey.objects.get(label__startswith=f"firmware:signing:{world.a.org.pk}:")
    assert b"PRIVATE" not in bytes(stored.ciphertext)
    release = upload(
        world.a,
        None,
        [sensor],
        "3.0.0",
        1,
        signature="unused",
        signing_key=key,
        sign_with_platform=True,
    )
    assert release.signing_key == key


def test_only_security_may_register_keys(world):
    with pytest.raises(NotPermitted):
        services.register_signing_key(
            organization=world.a.org,
            name="x",
            actor=world.a.user(Role.OPERATOR),
            public_key=Vendor().public_pem,
        )
    assert not SigningKey.objects.filter(name="x").exists()


def test_public_key_formats(world):
    raw = Ed25519PrivateKey.generate().public_key()
    from devices.firmware import signing

    key = services.register_signing_key(
        organization=world.a.org,
        name="raw",
        actor=world.a.user(Role.SECURITY_OFFICER),
        public_key=base64.b64encode(signing.raw_public(raw)).decode(),
    )
    assert key.fingerprint == signing.fingerprint(raw)
    with pytest.raises(ValidationError) as info:
        services.register_signing_key(
            organization=world.a.org,
            name="bad",
            actor=world.a.user(Role.SECURITY_OFFICER),
            public_key=base64.b64encode(b"x" * 31).decode(),
        )
    assert "public_key" in info.value.message_dict


def test_approval_is_four_eyes_and_by_a_security_officer(world, vendor, sensor):
    officer = world.a.user(Role.SECURITY_OFFICER)
    release = upload(world.a, vendor, [sensor], "2.0.0", 1, actor=officer)
    with pytest.raises(ValidationError) as info:
        services.approve_release(release, actor=officer)
    assert "approved_by" in info.value.message_dict
    with pytest.raises(NotPermitted):
        services.approve_release(release, actor=world.a.user(Role.OPERATOR))
    other = make_device_type(world.a.org)
    second = upload(world.a, vendor, [other], "2.0.0", 1, data=image("2.0.0-other"))
    approved = services.approve_release(second, actor=officer)
    assert approved.status == ReleaseStatus.APPROVED and approved.approved_by == officer
    release.refresh_from_db()
    assert release.status == ReleaseStatus.DRAFT


def test_approval_rechecks_the_stored_image(world, vendor, sensor):
    release = upload(world.a, vendor, [sensor], "2.0.0", 1)
    path = release.artifact.path
    with open(path, "r+b") as fh:
        fh.seek(10)
        fh.write(b"X")
    with pytest.raises(ValidationError) as info:
        services.approve_release(release, actor=world.a.user(Role.SECURITY_OFFICER))
    assert "artifact" in info.value.message_dict


def test_revoking_a_release_is_final(world, releases):
    old, _new = releases
    revoked = services.revoke_release(
        old, actor=world.a.user(Role.SECURITY_OFFICER), reason="CVE-2025-9 in the bootloader"
    )
    assert revoked.status == ReleaseStatus.REVOKED
    with pytest.raises(ValidationError):
        services.approve_release(revoked, actor=world.a.user(Role.SECURITY_OFFICER))
