"""Racing DDI feedback on one action serializes on the update's row lock: exactly one outcome
wins, the other is refused as gone (410) -- never both, never a half-written update."""

import pytest

from devices.firmware.choices import UpdateStatus
from devices.firmware.ddi import services
from devices.firmware.models import DeviceUpdate
from tests.firmware.conftest import deployed_devices
from tests.firmware.test_concurrency import run_threads

from .conftest import running_rollout

pytestmark = pytest.mark.django_db(transaction=True)


def test_racing_success_and_failure_closes_once(world, releases, sensor):
    devices = deployed_devices(world.a, sensor, 6)
    running_rollout(world.a, releases[1], sensor, failure_threshold=100)
    for device in devices:
        device.refresh_from_db()
        services.open_action(device)
    outcomes = []

    def close(device, finished):
        def run():
            update = DeviceUpdate.objects.get(device=device)
            try:
                services.deployment_feedback(
                    device, update.pk, execution="closed", finished=finished, details=["race"]
                )
                outcomes.append((device.pk, finished))
            except services.ActionGone:
                outcomes.append((device.pk, "gone"))

        return run

    targets = [close(d, f) for d in devices for f in ("success", "failure")]
    assert run_threads(targets) == []
    for device in devices:
        mine = sorted(o for pk, o in outcomes if pk == device.pk)
        update = DeviceUpdate.objects.get(device=device)
        assert mine in (["gone", "success"], ["failure", "gone"]), mine
        expected = UpdateStatus.FAILED if "failure" in mine else UpdateStatus.REPORTED_SUCCESS
        assert update.status == expected
