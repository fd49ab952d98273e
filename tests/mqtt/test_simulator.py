"""``simulate_fleet --transport mqtt``: per-device certificates, through the broker and bridge."""

import io

import pytest
from django.core.management import call_command

from devices.identity.models import DeviceCertificate
from devices.models import Device
from encompass.events.models import Event

from .conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_simulated_fleet_reports_over_mqtt(broker, bridge, mqtt_world, settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    out = io.StringIO()
    call_command(
        "simulate_fleet",
        devices=2,
        rate=4,
        flush=0.5,
        duration=3,
        organization=mqtt_world.a.org.slug,
        transport="mqtt",
        mqtt_port=broker.device_port,
        mqtt_ca=str(broker.folder / "broker-ca.pem"),
        stdout=out,
    )
    devices = list(Device.objects.filter(organization=mqtt_world.a.org, name__startswith="sim-"))
    assert len(devices) == 2
    # Each got its own certificate, issued by A's CA, and its key stayed in the simulator's folder.
    certs = DeviceCertificate.objects.filter(device__in=devices, key_generated_by_platform=True)
    assert certs.count() == 2 and {c.authority.organization_id for c in certs} == {
        mqtt_world.a.org.pk
    }
    assert all((tmp_path / "var" / "simulator-mqtt" / f"{d.uid}.key").exists() for d in devices)
    for device in devices:
        wait_for(
            lambda device=device: Event.objects.filter(
                device=device, kind="device.telemetry"
            ).exists()
        )
    assert Event.objects.filter(device__in=devices, kind="device.heartbeat").count() >= 2
    assert Event.objects.filter(device__in=devices, kind="device.connection").exists()
