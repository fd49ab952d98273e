"""The bridge's ``handle_batch`` over many devices: one ingest for all, per-device answers and
order kept, refusals as before, statements that do not grow with the number of devices."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from devices.choices import Health, LifecycleState
from devices.monitoring.models import Alert
from devices.mqtt.handler import Delivered, handle_batch
from encompass.events.models import Event

pytestmark = pytest.mark.django_db


def event(event_id, kind="telemetry", payload=None):
    payload = {"metrics": {"temp_c": 21.0}} if payload is None else payload
    body = {"id": event_id, "kind": kind, "occurred_at": timezone.now().isoformat()}
    return json.dumps({**body, "payload": payload}).encode()


def on(uid, body, leaf="events"):
    return Delivered(f"devices/{uid}/{leaf}", body, token=("gen", 1, 1))


def test_a_mixed_batch_of_many_devices(enroll):
    good, other = enroll().device, enroll().device
    retired = enroll(state=LifecycleState.DECOMMISSIONED).device
    messages = [
        on(good.uid, event("e1")),
        on(other.uid, event("e1")),  # the same id on another device: its own event
        on(good.uid, event("e2", payload={"metrics": {"temp_c": "hot"}})),  # rejected
        on(good.uid, b"offline", leaf="status"),  # the last will, between its events
        on(good.uid, event("e1")),  # repeated
        on(good.uid, event("e3")),
        on(retired.uid, event("r1")),
        on("no-such-device", event("x1")),
        on(other.uid, b"{not json"),
    ]
    before = Event.objects.order_by("-pk").values_list("pk", flat=True)[0]
    outcome = handle_batch(messages)
    assert outcome.counts["accepted"] == 3 and outcome.counts["duplicates"] == 1
    assert outcome.counts["rejected"] == 1 and outcome.counts["refused"] == 1
    assert outcome.counts["unknown_device"] == 1 and outcome.counts["malformed"] == 1
    assert [r["id"] for r in outcome.rejected_items[good.uid]] == ["e2"]
    assert all(m.token is not None for m in messages)  # all may be acknowledged
    kinds = list(
        Event.objects.filter(device=good, pk__gt=before)
        .order_by("pk")
        .values_list("kind", "event_id")
    )
    assert kinds == [
        ("device.telemetry", "e1"),
        ("device.health_changed", None),  # unknown -> online
        ("device.connection", None),
        ("device.health_changed", None),  # online -> offline (last will)
        ("device.telemetry", "e3"),
        ("device.health_changed", None),  # reporting again
    ]
    good.refresh_from_db()
    assert good.health == Health.ONLINE
    assert Event.objects.filter(device=other, event_id="e1").count() == 1
    assert Event.objects.filter(device=other, kind="security.malformed_message").count() == 1
    assert not Event.objects.filter(device=retired, source="device").exists()
    assert Event.objects.filter(device=retired, kind="security.refused_device").count() == 1
    assert Alert.objects.filter(device=retired, kind="device.refused").count() == 1


def test_statements_per_batch_do_not_grow_with_devices(enroll):
    fleet = [enroll().device for _ in range(8)]
    handle_batch([on(d.uid, event(f"{d.uid}-0")) for d in fleet])  # first contact

    def statements(devices, n):
        batch = [on(d.uid, event(f"{d.uid}-{n}-{k}")) for d in devices for k in range(3)]
        with CaptureQueriesContext(connection) as ctx:
            outcome = handle_batch(batch)
        assert outcome.counts["accepted"] == 3 * len(devices)
        return len(ctx.captured_queries)

    few, many = statements(fleet[:2], 1), statements(fleet, 2)
    assert many == few <= 14, (few, many)
