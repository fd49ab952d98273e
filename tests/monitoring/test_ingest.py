"""Device ingest through the real HTTP device API."""

import datetime
import threading

import pytest
from django.db import connection
from django.utils import timezone

from devices.choices import Health, LifecycleState
from devices.monitoring.hooks import _ingest_listeners, register_ingest_listener
from devices.monitoring.models import Alert
from devices.services import clear_device_token
from encompass.events.models import Event
from encompass.tenancy.roles import Role

from .conftest import item

pytestmark = pytest.mark.django_db


def test_batch_is_stored_and_answered_per_item(reporter):
    batch = [
        item("telemetry"),
        item("heartbeat", {"firmware_version": "1.2.0"}),
        item("log", {"level": "error", "message": "disk full"}),
    ]
    response = reporter.post(batch)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (3, 0, 0)
    assert [r["status"] for r in body["results"]] == ["accepted"] * 3
    stored = list(Event.objects.filter(device=reporter.device, source="device").order_by("id"))
    assert [e.kind for e in stored] == ["device.telemetry", "device.heartbeat", "device.log"]
    assert stored[2].severity == "error"
    assert all(e.source == "device" and e.received_at and e.occurred_at for e in stored)
    assert {r["event"] for r in body["results"]} == {e.pk for e in stored}


def test_batch_sent_twice_stores_once(reporter):
    batch = [item("telemetry"), item("heartbeat")]
    first = reporter.post(batch).json()
    second = reporter.post(batch).json()
    assert first["accepted"] == 2
    assert (second["accepted"], second["duplicates"]) == (0, 2)
    assert [r["status"] for r in second["results"]] == ["duplicate", "duplicate"]
    assert Event.objects.filter(device=reporter.device, source="device").count() == 2


def test_same_id_twice_in_one_batch_is_a_duplicate(reporter):
    one = item("telemetry", event_id="same")
    body = reporter.post([one, dict(one)]).json()
    assert [r["status"] for r in body["results"]] == ["accepted", "duplicate"]


def test_event_ids_are_per_device(make_reporter):
    a, b = make_reporter(), make_reporter()
    assert a.post([item(event_id="shared")]).json()["accepted"] == 1
    assert b.post([item(event_id="shared")]).json()["accepted"] == 1


def test_bad_items_are_rejected_by_name_and_good_ones_stored(reporter):
    now = timezone.now()
    batch = [
        item("telemetry"),
        {"id": "x1", "kind": "weather", "occurred_at": now.isoformat()},
        item("telemetry", {"metrics": {"temp_c": "hot"}}),
        {"id": "x3", "kind": "heartbeat", "occurred_at": "yesterday"},
        item("telemetry", at=now + datetime.timedelta(hours=1)),
        item("telemetry", at=now - datetime.timedelta(days=30)),
        {"id": "has space", "kind": "heartbeat", "occurred_at": now.isoformat()},
        "not an object",
        item("security", {"detail": "no signal"}),
        {**item("heartbeat"), "colour": "red"},
        {"id": "x4", "kind": "heartbeat", "occurred_at": "2026-01-01T00:00:00"},
    ]
    response = reporter.post(batch)
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 1 and body["rejected"] == 10
    errors = {r["index"]: r.get("errors", {}) for r in body["results"]}
    assert "kind" in errors[1]
    assert "payload.metrics.temp_c" in errors[2]
    assert "occurred_at" in errors[3]
    assert "future" in errors[4]["occurred_at"]
    assert "old" in errors[5]["occurred_at"]
    assert "id" in errors[6]
    assert "item" in errors[7]
    assert "payload.signal" in errors[8]
    assert errors[9] == {"colour": "Unknown field."}
    assert "offset" in errors[10]["occurred_at"]
    assert Event.objects.filter(device=reporter.device, source="device").count() == 1


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b'{"a": 1}', 400),
        (b"[]", 400),
    ],
)
def test_structurally_bad_body_stores_nothing(reporter, body, status):
    response = reporter.client.post(
        "/api/device/v1/events",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Device {reporter.token}",
    )
    assert response.status_code == status, response.content
    assert "detail" in response.json()
    assert not Event.objects.filter(device=reporter.device).exists()


def test_too_many_items_is_refused_whole(reporter, settings):
    settings.ENCOMPASS = {**settings.ENCOMPASS, "INGEST_MAX_BATCH": 5}
    response = reporter.post([item() for _ in range(6)])
    assert response.status_code == 413
    assert "At most 5" in response.json()["detail"]
    assert not Event.objects.filter(device=reporter.device).exists()


def test_too_large_body_and_item(reporter, settings):
    settings.ENCOMPASS = {
        **settings.ENCOMPASS,
        "INGEST_MAX_BYTES": 2000,
        "INGEST_MAX_ITEM_BYTES": 300,
    }
    big = reporter.post([item("log", {"message": "x" * 3000})])
    assert big.status_code == 413
    one = reporter.post([item("log", {"message": "y" * 400})]).json()
    assert one["rejected"] == 1 and "payload" in one["results"][0]["errors"]
    assert not Event.objects.filter(device=reporter.device).exists()


def test_wrong_content_type(reporter):
    response = reporter.client.post(
        "/api/device/v1/events",
        "x",
        content_type="text/plain",
        HTTP_AUTHORIZATION=f"Device {reporter.token}",
    )
    assert response.status_code == 415


def test_staff_session_and_missing_credentials_are_refused(world, reporter):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(world.a.user(Role.ADMIN))
    assert client.post("/api/device/v1/events", [item()], format="json").status_code in (401, 403)
    assert APIClient().post("/api/device/v1/events", [item()], format="json").status_code in (
        401,
        403,
    )
    assert not Event.objects.filter(source="device").exists()


@pytest.mark.parametrize(
    "state", [LifecycleState.QUARANTINED, LifecycleState.DECOMMISSIONING, LifecycleState.PROCURED]
)
def test_device_not_in_service_is_refused_and_recorded(make_reporter, state):
    reporter = make_reporter(state=state)
    response = reporter.post([item()])
    assert response.status_code == 403
    assert state in response.json()["detail"]
    assert not Event.objects.filter(device=reporter.device, source="device").exists()
    signal = Event.objects.get(device=reporter.device, kind="security.refused_device")
    assert signal.payload["state"] == state and signal.payload["credential"] == "token"
    alert = Alert.objects.get(dedupe_key=f"device:{reporter.device.pk}:refused")
    reporter.post([item()])
    alert.refresh_from_db()
    assert alert.count == 2  # one open alert per cause, counted


def test_revoked_token_is_refused_and_stores_nothing(reporter, world):
    clear_device_token(reporter.device, actor=world.a.user(Role.ADMIN), reason="lost")
    response = reporter.post([item()])
    assert response.status_code == 401
    assert not Event.objects.filter(device=reporter.device, source="device").exists()


def test_ingest_marks_device_seen_and_online(reporter):
    assert reporter.device.health == Health.UNKNOWN
    reporter.post([item("heartbeat")])
    reporter.device.refresh_from_db()
    assert reporter.device.health == Health.ONLINE
    assert reporter.device.last_seen_at is not None
    change = Event.objects.get(device=reporter.device, kind="device.health_changed")
    assert change.payload["from"] == "unknown" and change.payload["to"] == "online"
    reporter.post([item("heartbeat")])
    assert Event.objects.filter(device=reporter.device, kind="device.health_changed").count() == 1


def test_listeners_get_the_new_events_inside_the_transaction(reporter):
    seen = []

    def listener(device, events):
        seen.append((device.pk, [e.kind for e in events], connection.in_atomic_block))

    register_ingest_listener(listener)
    try:
        batch = [item("heartbeat", {"firmware_version": "2.0"}), item("telemetry")]
        reporter.post(batch)
        reporter.post(batch)  # all duplicates: no new events, no call
    finally:
        _ingest_listeners.remove(listener)
    assert seen == [(reporter.device.pk, ["device.heartbeat", "device.telemetry"], True)]


def test_a_failing_listener_does_not_lose_the_batch(reporter):
    def broken(device, events):
        raise RuntimeError("bug in another app")

    register_ingest_listener(broken)
    try:
        assert reporter.post([item()]).json()["accepted"] == 1
    finally:
        _ingest_listeners.remove(broken)
    assert Event.objects.filter(device=reporter.device, source="device").count() == 1


def test_query_count_does_not_grow_with_batch_size(reporter, django_assert_max_num_queries):
    reporter.post([item()])  # first contact: health change, baselines created
    with django_assert_max_num_queries(20):
        assert reporter.post([item() for _ in range(500)]).json()["accepted"] == 500


@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_batches_store_once(make_reporter):
    reporter = make_reporter()
    batch = [item() for _ in range(50)]
    answers = []

    def send():
        from django.db import connection as conn

        try:
            answers.append(reporter.post(batch).json())
        finally:
            conn.close()

    threads = [threading.Thread(target=send) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(a["accepted"] for a in answers) == 50
    assert sum(a["duplicates"] for a in answers) == 100
    assert Event.objects.filter(device=reporter.device, source="device").count() == 50
