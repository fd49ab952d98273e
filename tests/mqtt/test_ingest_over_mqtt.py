"""Devices publish with their certificates; the bridge stores through the device API's ingest."""

import json

import pytest
from django.utils import timezone

from encompass.events.models import Event

from .conftest import mosquitto_pub, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def telemetry(event_id, value=21.5):
    return {
        "id": event_id,
        "kind": "telemetry",
        "occurred_at": timezone.now().isoformat(),
        "payload": {"metrics": {"temp_c": value}},
    }


def stored(device, event_id=None):
    qs = Event.objects.filter(device=device, kind="device.telemetry")
    return qs.filter(event_id=event_id) if event_id else qs


def test_mosquitto_pub_with_the_device_certificate_is_stored_once(broker, bridge, enroll):
    ident = enroll()
    body = json.dumps([telemetry("m-1"), telemetry("m-2", 22.0)])
    done = mosquitto_pub(broker, ident, f"devices/{ident.device.uid}/events", body)
    assert done.returncode == 0, done.stderr
    wait_for(lambda: stored(ident.device).count() == 2)
    # The same batch again (a device resending after a lost PUBACK): stored once.
    assert mosquitto_pub(broker, ident, f"devices/{ident.device.uid}/events", body).returncode == 0
    wait_for(lambda: bridge.bridge.stats["duplicates"] >= 2)
    assert stored(ident.device).count() == 2
    event = stored(ident.device, "m-2").get()
    assert event.payload == {"metrics": {"temp_c": 22.0}} and event.source == "device"
    ident.device.refresh_from_db()
    assert ident.device.health == "online" and ident.device.last_seen_at is not None
