"""Platform to device: a rollout wave's start tells each device of the wave, on its command topic,
that a manifest waits; the device (Debian's mosquitto_sub with its certificate) hears it."""

import json
import subprocess
import time

import pytest

from devices.firmware import services as firmware
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device_type

from ..firmware.conftest import approved, register_vendor
from .conftest import SUB

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def listen(broker, ident, seconds):
    return subprocess.Popen(
        [
            SUB, "-h", "127.0.0.1", "-p", str(broker.device_port),
            "--cafile", str(broker.folder / "broker-ca.pem"),
            "--cert", str(ident.cert_path), "--key", str(ident.key_path),
            "-V", "mqttv5", "-q", "1", "-t", f"devices/{ident.device.uid}/commands",
            "-W", str(seconds), "-C", "1",
        ],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_wave_start_notifies_each_device_of_the_wave(
    broker, enroll, mqtt_world, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    }
    settings.ENCOMPASS = {
        **settings.ENCOMPASS,
        "MQTT": {**settings.ENCOMPASS["MQTT"], "NOTIFY_ROLLOUTS": True},
    }
    tenant = mqtt_world.a
    sensor = make_device_type(tenant.org, manufacturer="Acme", model="Meter-MQTT")
    vendor = register_vendor(tenant)
    approved(tenant, vendor, [sensor], "1.0.0", 1)
    new = approved(tenant, vendor, [sensor], "1.1.0", 2)
    devices = [
        enroll(device_type=sensor, firmware_version="1.0.0", firmware_security_version=1)
        for _ in range(2)
    ]
    listeners = [listen(broker, ident, 10) for ident in devices]
    time.sleep(1.0)  # subscribed
    rollout = firmware.create_rollout(
        organization=tenant.org,
        release=new,
        device_type=sensor,
        name="over mqtt",
        actor=tenant.user(Role.OPERATOR),
        waves=[{"percent": 100}],
        max_start_delay_seconds=0,
    )
    firmware.start_rollout(rollout, actor=tenant.user(Role.OPERATOR))
    for proc in listeners:
        out, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        message = json.loads(out)
        assert message["type"] == "update_available" and message["version"] == "1.1.0"
        assert message["rollout"] == rollout.pk and message["manifest"] == "/api/device/v1/update"
