"""The fleet simulator speaking DDI (``simulate_fleet --protocol ddi``) drives rollouts through
the same services: a good release completes, a bad one pauses, an abort is confirmed."""

import random

import pytest

from devices.firmware import services
from devices.firmware.choices import RolloutStatus, UpdateStatus
from devices.firmware.models import DeviceUpdate
from devices.firmware.simulation import FirmwareUpdateBehaviour
from devices.monitoring.simulator import SimulatedDevice
from devices.services import rotate_device_token
from encompass.tenancy.roles import Role
from tests.firmware.conftest import approved, deployed_devices, image
from tests.firmware.test_simulation import Client

from .conftest import running_rollout

pytestmark = pytest.mark.django_db


class DDIClient(Client):
    def put(self, path, json=None, headers=None):
        return self.api.put(path, json, format="json", headers=headers)


def simulated(world, devices, failure_rate=0.0):
    client = DDIClient()
    sims = []
    for device in devices:
        _d, token = rotate_device_token(device, actor=world.a.user(Role.ADMIN))
        device.refresh_from_db()
        state = SimulatedDevice(
            device=device, token=token, base_url="", rng=random.Random(1),
            firmware_version=device.firmware_version,
        )  # fmt: skip
        state.protocol = "ddi"
        behaviour = FirmwareUpdateBehaviour(
            state, None, failure_rate=failure_rate, rng=random.Random(7)
        )
        behaviour.client = client
        sims.append((state, behaviour))
    return sims


def run(sims, ticks=15):
    for _ in range(ticks):
        for _state, behaviour in sims:
            behaviour.tick()


def test_ddi_fleet_completes_a_good_rollout(world, releases, sensor):
    devices = deployed_devices(world.a, sensor, 3)
    rollout = running_rollout(world.a, releases[1], sensor, soak_minutes=0)
    sims = simulated(world, devices)
    run(sims)
    assert set(DeviceUpdate.objects.values_list("status", flat=True)) == {UpdateStatus.SUCCEEDED}
    assert services.advance_rollout(rollout).status == RolloutStatus.COMPLETED
    assert all(state.firmware_version == "1.1.0" for state, _b in sims)
    assert any(step.startswith("ddi:closed:success") for step, _c in sims[0][1].log)


def test_ddi_fleet_pauses_a_bad_release(world, vendor, sensor):
    approved(world.a, vendor, [sensor], "1.0.0", 1)
    bad = approved(
        world.a, vendor, [sensor], "1.3.0", 1, data=image("bad"),
        metadata={"simulation": {"failure_rate": 1.0}},
    )  # fmt: skip
    devices = deployed_devices(world.a, sensor, 4)
    rollout = running_rollout(world.a, bad, sensor, failure_threshold=10)
    run(simulated(world, devices))
    services.advance_rollout(rollout)  # boot failures are caught by the health rule
    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.PAUSED
    assert not DeviceUpdate.objects.filter(status=UpdateStatus.SUCCEEDED).exists()


def test_ddi_fleet_confirms_an_abort(world, releases, sensor):
    devices = deployed_devices(world.a, sensor, 2)
    rollout = running_rollout(world.a, releases[1], sensor)
    for device in devices:  # offered, then the operator aborts before the agents act
        services.issue_manifest(device, artifact_url=lambda release: "unused")
    services.abort_rollout(rollout, actor=world.a.user(Role.OPERATOR), reason="wrong build")
    run(simulated(world, devices), ticks=6)
    updates = DeviceUpdate.objects.filter(rollout=rollout)
    assert {u.status for u in updates} == {UpdateStatus.CANCELLED}
    assert all(u.cancel_acknowledged_at is not None for u in updates)
