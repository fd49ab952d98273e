"""Containment actions really change the fleet: device state, certificates, rollouts, API keys."""

import pytest
from rest_framework.test import APIClient

from devices.choices import LifecycleState
from encompass.exceptions import NotPermitted, ValidationError
from encompass.tenancy.roles import Role
from encompass.tenancy.services import create_api_key
from encompass.testing.factories import make_device
from incidents.models import ContainmentAction, TimelineEntry
from incidents.services import (
    pause_rollouts,
    quarantine_devices,
    reverse_containment,
    revoke_certificates,
    suspend_api_key,
)

pytestmark = pytest.mark.django_db


def test_quarantine_and_release(world, incident, officer, deployed):
    [action] = quarantine_devices(incident, [deployed], actor=officer, reason="Beaconing to C2")
    deployed.refresh_from_db()
    assert deployed.state == LifecycleState.QUARANTINED
    assert deployed.quarantined_from == LifecycleState.DEPLOYED
    last = (
        deployed.lifecycle_transitions.order_by("-pk").first()
        if hasattr(deployed, "lifecycle_transitions")
        else None
    )
    if last is not None:
        assert incident.reference in last.reason
    assert incident.affected_devices.filter(pk=deployed.pk).exists()
    assert incident.affected_sites.filter(pk=deployed.site_id).exists()
    entry = TimelineEntry.objects.filter(incident=incident, kind="containment").get()
    assert entry.data["action"] == action.pk
    assert action.reversible

    reverse_containment(action, actor=officer, reason="Cleaned and verified")
    deployed.refresh_from_db()
    assert deployed.state == LifecycleState.DEPLOYED
    action.refresh_from_db()
    assert action.reversed_at is not None and not action.reversible
    with pytest.raises(ValidationError):
        reverse_containment(action, actor=officer, reason="again")


def test_containment_needs_a_reason_and_changes_nothing_without(incident, officer, deployed):
    with pytest.raises(ValidationError) as err:
        quarantine_devices(incident, [deployed], actor=officer, reason="  ")
    assert "reason" in err.value.message_dict
    deployed.refresh_from_db()
    assert deployed.state == LifecycleState.DEPLOYED
    assert not ContainmentAction.objects.exists()


def test_devices_of_another_tenant_cannot_be_contained(world, incident, officer):
    theirs = make_device(world.b.org, site=world.b.sites[0], state=LifecycleState.DEPLOYED)
    with pytest.raises(ValidationError) as err:
        quarantine_devices(incident, [theirs], actor=officer, reason="no")
    assert "devices" in err.value.message_dict
    theirs.refresh_from_db()
    assert theirs.state == LifecycleState.DEPLOYED


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.AUDITOR])
def test_only_runners_contain(world, incident, deployed, role):
    with pytest.raises(NotPermitted):
        quarantine_devices(incident, [deployed], actor=world.a.user(role), reason="x")
    deployed.refresh_from_db()
    assert deployed.state == LifecycleState.DEPLOYED


def test_one_failure_rolls_back_the_whole_batch(world, incident, officer, deployed):
    procured = make_device(world.a.org, site=world.a.sites[0])  # cannot be quarantined
    with pytest.raises(ValidationError):
        quarantine_devices(incident, [deployed, procured], actor=officer, reason="batch")
    deployed.refresh_from_db()
    assert deployed.state == LifecycleState.DEPLOYED
    assert not ContainmentAction.objects.exists()


def test_revoke_certificates_is_real_and_not_reversible(world, incident, officer):
    from devices.identity import services as identity
    from tests.identity.conftest import enroll_device

    identity.create_certificate_authority(
        organization=world.a.org, actor=world.a.user(Role.ADMIN), name="A devices"
    )
    device = make_device(world.a.org, site=world.a.sites[0], state=LifecycleState.PROVISIONED)
    cert, _key = enroll_device(world.a, device)
    [action] = revoke_certificates(incident, [device], actor=officer, reason="Key leaked")
    cert.refresh_from_db()
    assert cert.revoked_at is not None
    assert action.details["revoked"] == 1
    assert not action.reversible
    with pytest.raises(ValidationError) as err:
        reverse_containment(action, actor=officer, reason="undo")
    assert "re-enrol" in str(err.value)


def test_pause_rollouts_touching_devices_and_resume(world, incident, officer, settings, tmp_path):
    from devices.firmware import services as firmware
    from devices.firmware.choices import RolloutStatus
    from tests.firmware.conftest import approved, deployed_devices, register_vendor

    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    }
    from encompass.testing.factories import make_device_type

    sensor = make_device_type(world.a.org, manufacturer="Acme", model="Meter-9")
    vendor = register_vendor(world.a)
    devices = deployed_devices(world.a, sensor, 3)
    approved(world.a, vendor, [sensor], "1.0.0", 1)
    new = approved(world.a, vendor, [sensor], "1.1.0", 2)
    rollout = firmware.create_rollout(
        organization=world.a.org,
        release=new,
        device_type=sensor,
        name="1.1.0 everywhere",
        actor=world.a.user(Role.OPERATOR),
    )
    firmware.start_rollout(rollout, actor=world.a.user(Role.OPERATOR))
    rollout.refresh_from_db()
    assert rollout.status in (RolloutStatus.RUNNING, RolloutStatus.SCHEDULED)

    actions = pause_rollouts(incident, devices[:1], actor=officer, reason="Suspect image")
    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.PAUSED
    assert [a.details["rollout"] for a in actions] == [rollout.pk]

    reverse_containment(actions[0], actor=officer, reason="Image verified")
    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.RUNNING


def test_suspend_api_key_is_refused_at_the_api_and_resumed(world, incident, officer):
    key, plaintext = create_api_key(
        organization=world.a.org, name="SIEM", role=Role.AUDITOR, actor=world.a.user(Role.ADMIN)
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert client.get("/api/v1/sites/").status_code == 200
    action = suspend_api_key(incident, key, actor=officer, reason="Key seen on a paste site")
    key.refresh_from_db()
    assert key.suspended
    assert client.get("/api/v1/sites/").status_code == 401
    reverse_containment(action, actor=officer, reason="Rotated upstream")
    assert client.get("/api/v1/sites/").status_code == 200


def test_api_key_of_another_tenant_cannot_be_suspended(world, incident, officer):
    key, _ = create_api_key(
        organization=world.b.org, name="B SIEM", role=Role.AUDITOR, actor=world.b.user(Role.ADMIN)
    )
    with pytest.raises(ValidationError):
        suspend_api_key(incident, key, actor=officer, reason="x")
    key.refresh_from_db()
    assert not key.suspended
