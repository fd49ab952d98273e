"""The DDI v1 documents and the state mapping onto rollouts, with a DRF client."""

import hashlib

import pytest

from devices.firmware.choices import RolloutStatus, UpdateStatus
from devices.firmware.models import DeviceUpdate
from encompass.events.models import Event
from tests.firmware.conftest import deployed_devices

from .conftest import base, ddi_client, running_rollout

pytestmark = pytest.mark.django_db


def feedback(client, url, execution, finished="none", details=(), progress=None):
    result = {"finished": finished}
    if progress:
        result["progress"] = progress
    body = {"id": "1", "time": "20260101T000000", "status": {
        "execution": execution, "result": result, "details": list(details)}}  # fmt: skip
    return client.post(url, body, format="json")


def test_poll_offers_the_wave_update_with_hawkbit_links(world, releases, sensor):
    device = deployed_devices(world.a, sensor, 1)[0]
    client, _token = ddi_client(device, world.a)
    poll = client.get(base(device), HTTP_ACCEPT="application/hal+json")
    assert poll.status_code == 200, poll.content
    assert poll.json()["config"] == {"polling": {"sleep": "00:05:00"}}
    assert "deploymentBase" not in poll.json()["_links"]
    # No heartbeat yet: the attributes are asked for; never beside an open action.
    assert poll.json()["_links"]["configData"]["href"].endswith(f"{base(device)}/configData")
    running_rollout(world.a, releases[1], sensor)
    links = client.get(base(device)).json()["_links"]
    update = DeviceUpdate.objects.get(device=device)
    assert update.status == UpdateStatus.OFFERED
    href = links["deploymentBase"]["href"]
    assert href.startswith(f"http://testserver{base(device)}/deploymentBase/{update.pk}?c=")
    assert "configData" not in links
    doc = client.get(href).json()
    assert doc["id"] == str(update.pk)
    assert doc["deployment"]["download"] == "forced" and doc["deployment"]["update"] == "forced"
    assert "maintenanceWindow" not in doc["deployment"]
    (chunk,) = doc["deployment"]["chunks"]
    assert chunk["version"] == "1.1.0" and chunk["part"] == "os"
    assert {"key": "security_version", "value": "2"} in chunk["metadata"]
    (artifact,) = chunk["artifacts"]
    data = update.release.artifact.open("rb").read()
    assert artifact["hashes"] == {
        "sha1": hashlib.sha1(data).hexdigest(),
        "md5": hashlib.md5(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    assert artifact["size"] == len(data) and artifact["filename"] == "fw.bin"
    download = client.get(artifact["_links"]["download-http"]["href"])
    assert download.status_code == 200 and b"".join(download.streaming_content) == data
    md5 = client.get(artifact["_links"]["md5sum"]["href"])
    assert md5.content.decode() == f"{hashlib.md5(data).hexdigest()}  fw.bin\n"


def test_feedback_walks_the_update_and_configdata_confirms_it(world, releases, sensor):
    device = deployed_devices(world.a, sensor, 1)[0]
    rollout = running_rollout(world.a, releases[1], sensor, soak_minutes=0)
    client, _token = ddi_client(device, world.a)
    client.get(base(device))
    update = DeviceUpdate.objects.get(device=device)
    url = f"{base(device)}/deploymentBase/{update.pk}/feedback"
    assert feedback(client, url, "proceeding").status_code == 200
    update.refresh_from_db()
    assert update.status == UpdateStatus.DOWNLOADING
    assert feedback(client, url, "proceeding", progress={"cnt": 1, "of": 1}).status_code == 200
    update.refresh_from_db()
    assert update.status == UpdateStatus.INSTALLING
    # The installed-but-not-closed action stays visible, so the agent can close it after reboot.
    assert str(update.pk) in client.get(base(device)).json()["_links"]["deploymentBase"]["href"]
    assert feedback(client, url, "closed", "success", ["Update Installed."]).status_code == 200
    update.refresh_from_db()
    assert update.status == UpdateStatus.REPORTED_SUCCESS and update.health_deadline
    assert feedback(client, url, "closed", "success").status_code == 200  # retried: harmless
    answer = client.put(
        f"{base(device)}/configData",
        {"mode": "merge", "data": {"firmware_version": "1.1.0", "security_version": "2"}},
        format="json",
    )
    assert answer.status_code == 200, answer.content
    update.refresh_from_db()
    assert update.status == UpdateStatus.SUCCEEDED
    device.refresh_from_db()
    assert device.firmware_version == "1.1.0" and device.firmware_security_version == 2
    links = client.get(base(device)).json()["_links"]
    assert "deploymentBase" not in links
    assert links["installedBase"]["href"].endswith(f"/installedBase/{update.pk}")
    assert client.get(links["installedBase"]["href"]).json()["id"] == str(update.pk)
    from devices.firmware.services import advance_rollout

    assert advance_rollout(rollout).status == RolloutStatus.COMPLETED
    assert feedback(client, url, "closed", "failure", ["late"]).status_code == 410


def test_closed_failure_counts_against_the_threshold_and_pauses(world, releases, sensor):
    devices = deployed_devices(world.a, sensor, 2)
    rollout = running_rollout(world.a, releases[1], sensor, failure_threshold=0)
    device = devices[0]
    client, _token = ddi_client(device, world.a)
    client.get(base(device))
    update = DeviceUpdate.objects.get(device=device)
    url = f"{base(device)}/deploymentBase/{update.pk}/feedback"
    answer = feedback(client, url, "closed", "failure", ["ERROR : HASH mismatch"])
    assert answer.status_code == 200
    update.refresh_from_db()
    assert update.status == UpdateStatus.FAILED and "HASH mismatch" in update.failure_reason
    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.PAUSED


def test_abort_reaches_the_device_as_cancel_action(world, releases, sensor):
    from devices.firmware.services import abort_rollout
    from encompass.tenancy.roles import Role

    device = deployed_devices(world.a, sensor, 1)[0]
    rollout = running_rollout(world.a, releases[1], sensor)
    client, _token = ddi_client(device, world.a)
    client.get(base(device))
    abort_rollout(rollout, actor=world.a.user(Role.OPERATOR), reason="bad batch")
    links = client.get(base(device)).json()["_links"]
    update = DeviceUpdate.objects.get(device=device)
    assert update.status == UpdateStatus.CANCELLED
    assert "deploymentBase" not in links
    cancel = client.get(links["cancelAction"]["href"]).json()
    assert cancel == {"id": str(update.pk), "cancelAction": {"stopId": str(update.pk)}}
    answer = feedback(client, links["cancelAction"]["href"] + "/feedback", "closed", "success")
    assert answer.status_code == 200
    update.refresh_from_db()
    assert update.cancel_acknowledged_at is not None
    assert "cancelAction" not in client.get(base(device)).json()["_links"]


def test_maintenance_window_is_shown_and_holds_the_install(world, releases, sensor):
    import datetime

    from django.utils import timezone

    device = deployed_devices(world.a, sensor, 1)[0]
    now = timezone.now().astimezone(datetime.UTC)
    start = (now - datetime.timedelta(hours=1)).time().replace(microsecond=0)
    end = (now + datetime.timedelta(hours=1)).time().replace(microsecond=0)
    world.a.sites[0].time_zone = "UTC"
    world.a.sites[0].save()
    rollout = running_rollout(world.a, releases[1], sensor, window_start=start, window_end=end)
    client, _token = ddi_client(device, world.a)
    href = client.get(base(device)).json()["_links"]["deploymentBase"]["href"]
    doc = client.get(href).json()["deployment"]
    assert doc["maintenanceWindow"] == "available" and doc["update"] == "forced"
    # The window closes (operator narrows it): the offer stays, the install is skipped.
    rollout.window_start = (now + datetime.timedelta(hours=2)).time()
    rollout.window_end = (now + datetime.timedelta(hours=3)).time()
    rollout.save()
    doc = client.get(href).json()["deployment"]
    assert doc["maintenanceWindow"] == "unavailable" and doc["update"] == "skip"
    update = DeviceUpdate.objects.get(device=device)
    url = f"{base(device)}/deploymentBase/{update.pk}/feedback"
    assert feedback(client, url, "closed", "success", ["Skipped Update."]).status_code == 200
    update.refresh_from_db()
    assert update.status == UpdateStatus.OFFERED  # a download-only round is no install


def test_bad_feedback_is_a_field_named_400_and_changes_nothing(world, releases, sensor):
    device, other = deployed_devices(world.a, sensor, 2)
    running_rollout(world.a, releases[1], sensor)
    client, _token = ddi_client(device, world.a)
    client.get(base(device))
    update = DeviceUpdate.objects.get(device=device)
    url = f"{base(device)}/deploymentBase/{update.pk}/feedback"
    answer = client.post(url, {"status": {"execution": "exploded"}}, format="json")
    assert answer.status_code == 400 and "execution" in answer.json()["status"]
    answer = client.put(f"{base(device)}/configData", {"data": {"security_version": "-3"}},
                        format="json")  # fmt: skip
    assert answer.status_code == 400 and "data.security_version" in answer.json()
    update.refresh_from_db()
    assert update.status == UpdateStatus.OFFERED
    assert not Event.objects.filter(device=device, kind="device.heartbeat").exists()
    foreign = f"{base(device)}/deploymentBase/{DeviceUpdate.objects.get(device=other).pk}"
    assert client.get(foreign).status_code == 404


def test_rollback_is_offered_over_ddi_like_any_rollout(world, vendor, sensor):
    from devices.firmware.services import rollback_rollout
    from encompass.tenancy.roles import Role
    from tests.firmware.conftest import approved

    approved(world.a, vendor, [sensor], "1.0.0", 1)
    new = approved(world.a, vendor, [sensor], "1.1.0", 1)
    device = deployed_devices(world.a, sensor, 1)[0]
    rollout = running_rollout(world.a, new, sensor, soak_minutes=0)
    client, _token = ddi_client(device, world.a)
    client.get(base(device))
    update = DeviceUpdate.objects.get(device=device, rollout=rollout)
    feedback(client, f"{base(device)}/deploymentBase/{update.pk}/feedback", "closed", "success")
    client.put(f"{base(device)}/configData", {"data": {"firmware_version": "1.1.0"}}, format="json")
    update.refresh_from_db()
    assert update.status == UpdateStatus.SUCCEEDED
    back = rollback_rollout(rollout, actor=world.a.user(Role.OPERATOR), reason="field reports")
    href = client.get(base(device)).json()["_links"]["deploymentBase"]["href"]
    doc = client.get(href).json()
    assert doc["deployment"]["chunks"][0]["version"] == "1.0.0"
    assert DeviceUpdate.objects.get(device=device, rollout=back).status == UpdateStatus.OFFERED
