"""The signed, expiring manifest and the artifact download, checked by the reference verifier."""

import base64
import datetime
import json

import pytest
from django.utils import timezone

from devices.choices import LifecycleState
from devices.firmware import services, signing
from devices.firmware.choices import UpdateStatus
from devices.firmware.models import DeviceUpdate
from devices.firmware.simulation import ManifestRejected, verify_artifact, verify_manifest
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device_type

from .conftest import approved, deployed_devices, device_client, image, register_vendor

pytestmark = pytest.mark.django_db
MANIFEST = "/api/device/v1/update"


def running_rollout(world, release, device_type, **settings):
    settings.setdefault("waves", [{"percent": 100}])
    settings.setdefault("max_start_delay_seconds", 0)
    rollout = services.create_rollout(
        organization=world.a.org,
        release=release,
        device_type=device_type,
        name="r",
        actor=world.a.user(Role.OPERATOR),
        **settings,
    )
    return services.start_rollout(rollout, actor=world.a.user(Role.OPERATOR))


def fetch(client, nonce="n-1"):
    response = client.get(MANIFEST, {"nonce": nonce})
    assert response.status_code == 200, response.content
    return response.json()


def public_key(client):
    return signing.load_public_key(client.get(MANIFEST + "/key").json()["public_key"])


def test_offered_manifest_verifies_and_names_the_release(world, releases, sensor):
    _old, new = releases
    device = deployed_devices(world.a, sensor, 1)[0]
    running_rollout(world, new, sensor)
    client = device_client(device, world.a)
    body = fetch(client)
    payload = verify_manifest(
        body, public_key(client), device_uid=device.uid, security_version=1, nonce="n-1"
    )
    assert payload["update"] is True
    assert payload["version"] == "1.1.0" and payload["security_version"] == 2
    assert payload["sha256"] == new.sha256 and payload["size"] == new.size
    expires = datetime.datetime.fromisoformat(payload["expires_at"])
    assert expires - timezone.now() <= datetime.timedelta(hours=1)
    update = DeviceUpdate.objects.get(device=device)
    assert update.status == UpdateStatus.OFFERED and payload["update_id"] == update.pk
    artifact = client.get(payload["url"].split("testserver")[-1])
    assert artifact.status_code == 200
    data = b"".join(artifact.streaming_content)
    assert verify_artifact(payload, data)


def test_no_update_is_also_signed(world, releases, sensor):
    device = deployed_devices(world.a, sensor, 1)[0]
    client = device_client(device, world.a)
    payload = verify_manifest(
        fetch(client), public_key(client), device_uid=device.uid, security_version=1, nonce="n-1"
    )
    assert payload["update"] is False and "version" not in payload


def test_expired_manifest_is_refused(world, releases, sensor):
    device = deployed_devices(world.a, sensor, 1)[0]
    client = device_client(device, world.a)
    body = fetch(client)
    later = timezone.now() + datetime.timedelta(hours=1, seconds=1)
    with pytest.raises(ManifestRejected, match="expired"):
        verify_manifest(
            body, public_key(client), device_uid=device.uid, security_version=1, now=later
        )


def test_tampered_manifest_is_refused(world, releases, sensor):
    _old, new = releases
    device = deployed_devices(world.a, sensor, 1)[0]
    running_rollout(world, new, sensor)
    client = device_client(device, world.a)
    body = fetch(client)
    payload = json.loads(base64.b64decode(body["manifest"]))
    payload["sha256"] = "0" * 64
    body["manifest"] = base64.b64encode(signing.canonical_json(payload)).decode()
    with pytest.raises(ManifestRejected, match="signature"):
        verify_manifest(body, public_key(client), device_uid=device.uid, security_version=1)


def test_manifest_from_another_organization_is_refused(world, releases, sensor):
    device = deployed_devices(world.a, sensor, 1)[0]
    client = device_client(device, world.a)
    body = fetch(client)
    other_type = make_device_type(world.b.org)
    other = deployed_devices(world.b, other_type, 1)[0]
    other_key = public_key(device_client(other, world.b))
    with pytest.raises(ManifestRejected, match="signature"):
        verify_manifest(body, other_key, device_uid=device.uid, security_version=1)


def test_replayed_manifest_fails_the_nonce_and_device_checks(world, releases, sensor):
    device, other = deployed_devices(world.a, sensor, 2)
    client = device_client(device, world.a)
    body = fetch(client, nonce="first")
    key = public_key(client)
    with pytest.raises(ManifestRejected, match="nonce"):
        verify_manifest(body, key, device_uid=device.uid, security_version=1, nonce="second")
    with pytest.raises(ManifestRejected, match="another device"):
        verify_manifest(body, key, device_uid=other.uid, security_version=1)


def test_downgrade_is_never_offered(world, releases, sensor):
    """A device already above the release's security version is never offered it."""
    _old, new = releases
    device = deployed_devices(world.a, sensor, 2, security_version=1)
    running_rollout(world, new, sensor)
    ahead = device[0]
    ahead.firmware_security_version = 5
    ahead.save(update_fields=["firmware_security_version"])
    client = device_client(ahead, world.a)
    payload = verify_manifest(
        fetch(client), public_key(client), device_uid=ahead.uid, security_version=5
    )
    assert payload["update"] is False
    update = DeviceUpdate.objects.get(device=ahead)
    assert update.status == UpdateStatus.CANCELLED
    assert "security version" in update.failure_reason


def test_reference_verifier_refuses_a_signed_downgrade(world, releases, sensor):
    _old, new = releases
    device = deployed_devices(world.a, sensor, 1)[0]
    running_rollout(world, new, sensor)
    client = device_client(device, world.a)
    body = fetch(client)
    with pytest.raises(ManifestRejected, match="downgrade"):
        verify_manifest(body, public_key(client), device_uid=device.uid, security_version=3)


def test_quarantined_device_is_not_offered(world, releases, sensor):
    _old, new = releases
    device = deployed_devices(world.a, sensor, 1)[0]
    running_rollout(world, new, sensor)
    device.state = LifecycleState.QUARANTINED
    device.save(update_fields=["state"])
    client = device_client(device, world.a)
    assert fetch(client)["payload"]["update"] is False


def test_artifact_of_another_organization_is_not_found(world, releases, sensor):
    old, _new = releases
    b_type = make_device_type(world.b.org)
    b_vendor = register_vendor(world.b)
    b_release = approved(world.b, b_vendor, [b_type], "9.0.0", 1, data=image("b"))
    device = deployed_devices(world.a, sensor, 1)[0]
    client = device_client(device, world.a)
    assert client.get(f"{MANIFEST}/artifact/{b_release.pk}").status_code == 404
    assert client.get(f"{MANIFEST}/artifact/{old.pk}").status_code == 200


def test_staff_session_cannot_use_the_device_api(world, releases):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(world.a.user(Role.ADMIN))
    assert client.get(MANIFEST).status_code in (401, 403)
