"""The simulator's firmware behaviour drives the real device API: a good release advances, a bad
one pauses its rollout at the failure threshold."""

import random

import pytest
from rest_framework.test import APIClient

from devices.firmware import services
from devices.firmware.choices import RolloutStatus, UpdateStatus
from devices.firmware.models import DeviceUpdate
from devices.firmware.simulation import FirmwareUpdateBehaviour
from devices.monitoring.simulator import SimulatedDevice
from devices.services import rotate_device_token
from encompass.tenancy.roles import Role

from .conftest import approved, deployed_devices, image

pytestmark = pytest.mark.django_db


class Client:
    """The httpx calls the behaviour makes, served by Django's test client."""

    def __init__(self):
        self.api = APIClient()

    def get(self, path, params=None, headers=None):
        response = self.api.get(path, params or {}, headers=headers)
        if getattr(response, "streaming", False):  # httpx reads the body into .content
            body = b"".join(response.streaming_content)
            response = type(
                "Downloaded", (), {"status_code": response.status_code, "content": body}
            )()
        return response

    def post(self, path, json=None, headers=None):
        return self.api.post(path, json, format="json", headers=headers)


def simulated(world, devices, failure_rate):
    client = Client()
    sims = []
    for device in devices:
        _d, token = rotate_device_token(device, actor=world.a.user(Role.ADMIN))
        device.refresh_from_db()
        state = SimulatedDevice(
            device=device,
            token=token,
            base_url="",
            rng=random.Random(1),
            firmware_version=device.firmware_version,
        )
        behaviour = FirmwareUpdateBehaviour(
            state, None, failure_rate=failure_rate, rng=random.Random(7)
        )
        behaviour.client = client
        sims.append((state, behaviour))
    return sims


def run(sims, ticks=12):
    for _ in range(ticks):
        for state, behaviour in sims:
            behaviour.tick()
            for event in state.outbox:  # what the monitoring ingest would hand the listener
                if event["kind"] == "heartbeat":
                    services.record_reported_firmware(
                        state.device,
                        version=event["payload"]["firmware_version"],
                        security_version=event["payload"].get("security_version"),
                    )
            state.outbox.clear()


def test_simulated_fleet_completes_a_good_rollout(world, releases, sensor):
    _old, new = releases
    devices = deployed_devices(world.a, sensor, 3)
    rollout = services.create_rollout(
        organization=world.a.org,
        release=new,
        device_type=sensor,
        name="sim",
        actor=world.a.user(Role.OPERATOR),
        waves=[{"percent": 100}],
        max_start_delay_seconds=0,
        soak_minutes=0,
    )
    services.start_rollout(rollout, actor=world.a.user(Role.OPERATOR))
    sims = simulated(world, devices, failure_rate=0.0)
    run(sims)
    assert set(DeviceUpdate.objects.values_list("status", flat=True)) == {UpdateStatus.SUCCEEDED}
    services.advance_rollout(rollout)
    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.COMPLETED
    assert all(state.firmware_version == "1.1.0" for state, _b in sims)


def test_bad_release_pauses_its_rollout(world, vendor, sensor):
    approved(world.a, vendor, [sensor], "1.0.0", 1)
    bad = approved(
        world.a,
        vendor,
        [sensor],
        "1.3.0",
        1,
        data=image("bad"),
        metadata={"simulation": {"failure_rate": 1.0}},
    )
    devices = deployed_devices(world.a, sensor, 4)
    rollout = services.create_rollout(
        organization=world.a.org,
        release=bad,
        device_type=sensor,
        name="bad",
        actor=world.a.user(Role.OPERATOR),
        waves=[{"percent": 100}],
        max_start_delay_seconds=0,
        failure_threshold=10,
    )
    services.start_rollout(rollout, actor=world.a.user(Role.OPERATOR))
    run(simulated(world, devices, failure_rate=0.0))
    services.advance_rollout(rollout)
    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.PAUSED
    assert DeviceUpdate.objects.filter(status=UpdateStatus.SUCCEEDED).count() == 0
