"""Tenant isolation in the query plan (PostgreSQL): beside a big neighbour organization, a small
organization's event and device lists read through the organization (or site) indexes and never
scan the neighbour's rows.

Each list is requested through the real surface (API and web), every query it ran on the event or
device table is re-run under ``EXPLAIN (ANALYZE, FORMAT JSON)``, and the plan must reach the table
only through an index that starts with ``organization_id`` or ``site_id`` (or the primary key, for
a join by id), touching a few hundred rows at most -- the neighbour has tens of thousands.
"""

import datetime
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from devices.models import Device, DeviceType
from encompass.events.choices import EventSource
from encompass.events.models import Event
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device
from encompass.testing.web import web

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.slow,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL query plans"),
]

NEIGHBOUR_DEVICES = 20_000
NEIGHBOUR_EVENTS = 40_000
MOST_ROWS_TOUCHED = 500


@pytest.fixture
def neighbour(world):
    """The small tenant A (a few devices and events) beside a big B, stored after A's rows (so a
    backward scan of the id order would meet all of B's first), and ANALYZE'd."""
    now = timezone.now()
    small = [make_device(world.a.org, site=world.a.sites[i % 2]) for i in range(6)]
    Event.objects.bulk_create(
        Event(
            organization=world.a.org,
            site=d.site,
            device=d,
            kind="device.telemetry",
            source=EventSource.DEVICE,
            received_at=now - datetime.timedelta(minutes=i),
            payload={"metrics": {"t": i}},
        )
        for i, d in enumerate(small * 5)
    )
    big = world.b.org
    dtype = DeviceType.objects.create(organization=big, manufacturer="Acme", model="Big")
    site = world.b.sites[0]
    devices = Device.objects.bulk_create(
        (
            Device(
                organization=big,
                site=site,
                device_type=dtype,
                manufacturer="Acme",
                serial_number=f"BIG-{i:06d}",
                name=f"big-{i:06d}",
            )
            for i in range(NEIGHBOUR_DEVICES)
        ),
        batch_size=5000,
    )
    Event.objects.bulk_create(
        (
            Event(
                organization=big,
                site=site,
                device=devices[i % NEIGHBOUR_DEVICES],
                kind="device.telemetry",
                source=EventSource.DEVICE,
                received_at=now - datetime.timedelta(seconds=i),
                payload={"metrics": {"t": i}},
            )
            for i in range(NEIGHBOUR_EVENTS)
        ),
        batch_size=5000,
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Event._meta.db_table}")
        cursor.execute(f"ANALYZE {Device._meta.db_table}")
    return world


def _tenant_indexes(table):
    """Indexes on ``table`` that lead with organization_id or site_id, and its primary key."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT i.relname, a.attname, x.indisprimary
            FROM pg_index x
            JOIN pg_class i ON i.oid = x.indexrelid
            JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[0]
            WHERE x.indrelid = %s::regclass
            """,
            [table],
        )
        return {
            name
            for name, column, primary in cursor.fetchall()
            if primary or column in ("organization_id", "site_id")
        }


def _nodes(plan):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _reads(sql, table):
    """(scan nodes on ``table``, rows they touched) for ``sql`` run under EXPLAIN ANALYZE."""
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)
        raw = cursor.fetchone()[0]
    plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
    scans, touched = [], 0
    for node in _nodes(plan):
        if node.get("Relation Name") != table:
            continue
        scans.append((node["Node Type"], node.get("Index Name")))
        loops = node.get("Actual Loops", 1)
        touched += (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)) * loops
    return scans, touched


def _bitmap_indexes(sql, table):
    """The indexes of ``table`` that bitmap index scans in ``sql``'s plan read."""
    mine = _all_indexes(table)
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql)
        raw = cursor.fetchone()[0]
    plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
    return {
        n["Index Name"]
        for n in _nodes(plan)
        if n["Node Type"] == "Bitmap Index Scan" and n["Index Name"] in mine
    }


def _all_indexes(table):
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", [table])
        return {name for (name,) in cursor.fetchall()}


def assert_tenant_plans(client, url, model):
    table = model._meta.db_table
    allowed = _tenant_indexes(table)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    checked = 0
    for query in ctx.captured_queries:
        sql = query["sql"]
        if not sql.lstrip().upper().startswith("SELECT") or f'"{table}"' not in sql:
            continue
        scans, touched = _reads(sql, table)
        for node_type, index in scans:
            assert node_type != "Seq Scan", (url, sql)
            if node_type == "Bitmap Heap Scan":
                assert _bitmap_indexes(sql, table) <= allowed, (url, sql)
            else:
                assert index in allowed, (url, node_type, index, sql)
        assert touched <= MOST_ROWS_TOUCHED, (url, touched, sql)
        checked += 1
    assert checked, f"{url} ran no query on {table}"


def test_a_big_neighbour_is_never_read_by_a_small_tenants_lists(neighbour):
    """One world for every surface (building the neighbour is the costly part)."""
    operator = web(neighbour.a.user(Role.OPERATOR))
    technician = web(neighbour.site_technician)
    for client in (operator, technician):
        assert_tenant_plans(client, "/api/v1/events/", Event)
        assert_tenant_plans(client, reverse("monitoring_ui:dashboard"), Event)
        assert_tenant_plans(client, "/api/v1/devices/", Device)
        assert_tenant_plans(client, reverse("devices_ui:list"), Device)

    # The big organization's own pages are index-backed too: its first web page of devices
    # reads about a page of rows (in the name index's order), and its count stops at the cap.
    big_operator = web(neighbour.b.user(Role.OPERATOR))
    with CaptureQueriesContext(connection) as ctx:
        page = big_operator.get(reverse("devices_ui:list"))
    assert page.status_code == 200
    assert b"10000+ matching" in page.content
    table = Device._meta.db_table
    pages = [q["sql"] for q in ctx.captured_queries if f'FROM "{table}"' in q["sql"]]
    pages = [sql for sql in pages if "LIMIT 51" in sql and "COUNT(" not in sql]
    assert pages
    for sql in pages:
        scans, touched = _reads(sql, table)
        assert scans == [("Index Scan", "device_org_name_id")], scans
        assert touched <= 100
