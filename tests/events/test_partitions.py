"""The event table partitioned by time (PostgreSQL) and idempotent ingest across partitions.

Dedup tests run on every backend (the keys live in ``EventKey``); the layout, pruning and
partition-drop retention tests need PostgreSQL's declarative partitioning.
"""

import datetime
import json

import pytest
from django.db import connection
from django.utils import timezone

from devices.monitoring.ingest import ingest_events, ingest_many
from encompass.audit.models import AuditEntry
from encompass.events import partitions
from encompass.events.choices import EventSource
from encompass.events.models import Event, EventKey, RetentionPolicy
from encompass.events.retention import prune_keys
from encompass.events.tasks import purge_expired_events
from encompass.testing.factories import make_device

pytestmark = pytest.mark.django_db
on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL declarative partitioning"
)
DAY = datetime.timedelta(days=1)


def _item(event_id, at, kind="telemetry"):
    payload = {"metrics": {"t": 1}} if kind == "telemetry" else {"message": "booted"}
    return {"id": event_id, "kind": kind, "occurred_at": at.isoformat(), "payload": payload}


def _partition_of(pk):
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM events_event WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_a_resend_on_the_next_day_is_a_duplicate(world):
    """The same item received today and again tomorrow (another day partition) is stored once."""
    device = make_device(world.a.org)
    today = timezone.now().replace(hour=23, minute=50)
    sent = today - datetime.timedelta(minutes=5)
    first = ingest_events(device, [_item("e-1", sent), _item("e-2", sent)], now=today)
    assert [r["status"] for r in first.results] == ["accepted", "accepted"]
    again = ingest_events(device, [_item("e-1", sent), _item("e-3", sent)], now=today + DAY / 24)
    assert [r["status"] for r in again.results] == ["duplicate", "accepted"]
    assert Event.objects.filter(device=device, event_id="e-1").count() == 1
    assert EventKey.objects.filter(device=device).count() == 3
    if partitions.is_partitioned():
        stored = dict(Event.objects.filter(device=device).values_list("event_id", "pk"))
        assert _partition_of(stored["e-1"]) != _partition_of(stored["e-3"])


def test_duplicates_across_devices_in_one_ingest_many(world):
    one, two = make_device(world.a.org), make_device(world.a.org)
    now = timezone.now()
    ingest_events(one, [_item("x", now)], now=now)
    results = ingest_many([(one, [_item("x", now), _item("y", now)]), (two, [_item("x", now)])])
    assert [r["status"] for r in results[one.pk].results] == ["duplicate", "accepted"]
    assert [r["status"] for r in results[two.pk].results] == ["accepted"]
    assert Event.objects.filter(event_id="x").count() == 2


def test_keys_are_kept_while_a_resend_could_be_accepted(world, settings):
    device = make_device(world.a.org)
    now = timezone.now()
    ingest_events(device, [_item("old", now - 6 * DAY), _item("new", now)], now=now)
    max_age = settings.ENCOMPASS.get("INGEST_MAX_AGE_SECONDS", 7 * 86400)
    # Eight days on, "old" is past the acceptance window (plus a day): its key goes, and a
    # re-send of it is refused as too old before any key is read; "new" is still protected.
    later = now - 6 * DAY + datetime.timedelta(seconds=max_age) + DAY + datetime.timedelta(hours=1)
    assert prune_keys(now=later) == 1
    assert set(EventKey.objects.values_list("event_id", flat=True)) == {"new"}
    resent = ingest_events(device, [_item("old", now - 6 * DAY)], now=later)
    assert (
        resent.results[0]["status"] == "rejected" and "occurred_at" in resent.results[0]["errors"]
    )
    assert ingest_events(device, [_item("new", now)], now=now + DAY).results[0]["status"] == (
        "duplicate"
    )


@on_postgresql
def test_layout_list_by_kind_then_days():
    assert partitions.is_partitioned()
    today = timezone.now().date()
    with connection.cursor() as cursor:
        for table, _kinds in partitions.RANGED.values():
            have = partitions.days(cursor, table)
            assert all(today + n * DAY in have for n in range(partitions.AHEAD_DAYS + 1))
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE confrelid = 'events_event'::regclass"
        )
        assert cursor.fetchall() == []  # nothing references the partitioned table


@on_postgresql
def test_rows_go_to_their_class_and_day(world):
    device = make_device(world.a.org)
    now = timezone.now()
    result = ingest_events(device, [_item("t", now), _item("l", now, kind="log")], now=now).results
    stored = {r["id"]: r["event"] for r in result}
    day = now.astimezone(datetime.UTC).date()
    assert _partition_of(stored["t"]) == partitions.day_name("events_event_telemetry", day)
    assert _partition_of(stored["l"]) == partitions.day_name("events_event_log", day)
    assert ingest_events(device, [_item("t", now)], now=now).results[0]["status"] == "duplicate"
    platform = Event.objects.create(
        organization=world.a.org,
        kind="device.lifecycle",
        source=EventSource.PLATFORM,
        received_at=now,
    )
    assert _partition_of(platform.pk) == partitions.OTHER


def _scanned(queryset):
    """The relations a query's plan reads (EXPLAIN, no execution)."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    found = set()

    def walk(node):
        if "Relation Name" in node:
            found.add(node["Relation Name"])
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return found


@on_postgresql
def test_plans_prune_to_the_class_and_days_asked_for(world):
    """The common reads name a kind and/or a time window: only those partitions are planned."""
    device = make_device(world.a.org)
    now = timezone.now()
    today = now.astimezone(datetime.UTC).date()
    org = world.a.org
    tele = "events_event_telemetry"
    old = today - 10 * DAY
    partitions.ensure_days(today=old, ahead=0)  # a past day, which must never be read below
    old_days = {partitions.day_name(table, old) for table, _k in partitions.RANGED.values()}
    # A device's recent telemetry (device page, health, rule windows): today's telemetry day on
    # (the later days and the default may hold rows with a later clock; they are empty).
    recent = Event.objects.filter(
        device=device, kind="device.telemetry", received_at__gte=now - datetime.timedelta(hours=1)
    ).order_by("-received_at")[:50]
    scanned = _scanned(recent)
    assert partitions.day_name(tele, today) in scanned
    assert scanned <= {
        partitions.day_name(tele, today + n * DAY) for n in range(-1, partitions.AHEAD_DAYS + 1)
    } | {f"{tele}_default"}
    # The API's ?since= over every kind: the days from the window on, and the other table.
    window = Event.objects.filter(
        organization=org, received_at__gte=now - datetime.timedelta(minutes=5)
    ).order_by("-id")[:50]
    scanned = _scanned(window)
    allowed = {
        partitions.day_name(table, today + n * DAY)
        for table, _kinds in partitions.RANGED.values()
        for n in range(-1, partitions.AHEAD_DAYS + 1)
    }
    days_read = {name for name in scanned if "_p" in name}
    assert partitions.OTHER in scanned and days_read and days_read <= allowed
    # Without a window every day is read: the old one too (what the test above rules out).
    everything = _scanned(Event.objects.filter(organization=org).order_by("-id")[:50])
    assert old_days <= everything and not old_days & scanned
    # The API's ?kind=device.log: the log days only.
    logs = Event.objects.filter(organization=org, kind="device.log").order_by("-id")[:50]
    assert _scanned(logs) and all(n.startswith("events_event_log") for n in _scanned(logs))
    # Security / platform kinds: the one "other" table.
    security = Event.objects.filter(organization=org, kind="device.security").order_by("-id")[:50]
    assert _scanned(security) == {partitions.OTHER}


@on_postgresql
def test_retention_drops_days_past_every_policy_and_audits(world):
    """A day past every organization's telemetry retention is dropped whole (the rows of both
    organizations with it, each audited); the same day's security events stay; a day still
    within one organization's longer policy is kept and only the other's rows are deleted."""
    a, b = world.a.org, world.b.org
    now = timezone.now()
    old_day = (now - 120 * DAY).astimezone(datetime.UTC).date()  # older than any day made
    mid_day = (now - 20 * DAY).astimezone(datetime.UTC).date()
    da, db_ = make_device(a), make_device(b)
    at_old = datetime.datetime.combine(old_day, datetime.time(12), tzinfo=datetime.UTC)
    at_mid = datetime.datetime.combine(mid_day, datetime.time(12), tzinfo=datetime.UTC)

    def rows(device, kind, at, n):
        Event.objects.bulk_create(
            Event(
                organization=device.organization,
                device=device,
                kind=kind,
                source=EventSource.DEVICE,
                received_at=at,
            )
            for _ in range(n)
        )

    # These days predate the table's partitions: the rows land in the default first, and
    # making the day moves them into it.
    rows(da, "device.telemetry", at_old, 3)
    rows(db_, "device.heartbeat", at_old, 2)
    rows(da, "device.security", at_old, 1)
    assert partitions.ensure_days(today=old_day, ahead=0) == {"created": 2, "moved": 5}
    partitions.ensure_days(today=mid_day, ahead=0)
    rows(da, "device.telemetry", at_mid, 4)
    rows(db_, "device.telemetry", at_mid, 1)
    RetentionPolicy.objects.update_or_create(organization=a, defaults={"telemetry_days": 30})
    RetentionPolicy.objects.update_or_create(organization=b, defaults={"telemetry_days": 14})
    tele_old = partitions.day_name("events_event_telemetry", old_day)
    tele_mid = partitions.day_name("events_event_telemetry", mid_day)

    counts = purge_expired_events()

    with connection.cursor() as cursor:
        have = partitions.days(cursor, "events_event_telemetry")
    assert tele_old not in have.values() and tele_mid in have.values()
    assert counts[a.slug]["telemetry"] == 3 and counts[b.slug]["telemetry"] == 3
    assert Event.objects.filter(organization=a, kind="device.security").count() == 1
    assert Event.objects.filter(organization=a, received_at=at_mid).count() == 4
    assert Event.objects.filter(organization=b, received_at=at_mid).count() == 0
    entry = AuditEntry.objects.get(action="events.retention.purge", organization=a)
    assert entry.changes["in_dropped_partitions"] == {"telemetry": 3}
    assert purge_expired_events()[a.slug] == {
        "telemetry": 0,
        "logs": 0,
        "security": 0,
        "platform": 0,
    }


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_upgrade_keeps_every_row_and_the_sequence(world):
    """Migrating a plain table with rows to the partitioned one (and back) loses nothing: same
    ids and columns, keys for the recent device events, the id sequence carries on."""
    from django.db.migrations.executor import MigrationExecutor

    before = [("events", "0005_job_attempt"), ("webhooks", "0001_initial")]
    executor = MigrationExecutor(connection)
    leaves = executor.loader.graph.leaf_nodes()
    executor.migrate(before)
    device = make_device(world.a.org)
    now = timezone.now()
    with connection.cursor() as cursor:
        for n, (kind, at, event_id) in enumerate(
            [
                ("device.telemetry", now, "t1"),
                ("device.telemetry", now - 200 * DAY, "t-old"),  # older than any day made
                ("device.log", now - 3 * DAY, "l1"),
                ("device.lifecycle", now - 400 * DAY, None),
            ]
        ):
            cursor.execute(
                "INSERT INTO events_event (organization_id, device_id, kind, source, severity, "
                "event_id, occurred_at, received_at, payload) VALUES (%s, %s, %s, 'device', "
                "'info', %s, %s, %s, %s) RETURNING id",
                [world.a.org.pk, device.pk, kind, event_id, at, at, json.dumps({"n": n})],
            )
        cursor.execute("SELECT id, kind, received_at, payload FROM events_event ORDER BY id")
        rows = cursor.fetchall()
    try:
        executor = MigrationExecutor(connection)
        executor.migrate(leaves)
        assert partitions.is_partitioned()
        with connection.cursor() as cursor:
            cursor.execute("SELECT id, kind, received_at, payload FROM events_event ORDER BY id")
            assert cursor.fetchall() == rows
        assert set(EventKey.objects.values_list("event_id", flat=True)) == {"t1", "l1"}
        fresh = Event.objects.create(
            organization=world.a.org, kind="device.telemetry", source="device", received_at=now
        )
        assert fresh.pk > rows[-1][0]
        executor = MigrationExecutor(connection)
        executor.migrate(before)
        assert not partitions.is_partitioned()
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM events_event")
            assert cursor.fetchone()[0] == len(rows) + 1
    finally:
        MigrationExecutor(connection).migrate(leaves)
    assert partitions.is_partitioned()


def test_ids_follow_the_order_of_the_batch(world):
    """Across devices and many items, each event's id follows its place in the batch."""
    one, two = make_device(world.a.org), make_device(world.a.org)
    now = timezone.now()
    results = ingest_many(
        [
            (one, [_item(f"a{n}", now) for n in range(300)]),
            (two, [_item(f"b{n}", now) for n in range(300)]),
        ]
    )
    for device in (one, two):
        ids = [r["event"] for r in results[device.pk].results]
        assert ids == sorted(ids) and len(set(ids)) == 300
    assert max(r["event"] for r in results[one.pk].results) < min(
        r["event"] for r in results[two.pk].results
    )
