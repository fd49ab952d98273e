"""Build a big tenant fast: devices, events and alerts written with PostgreSQL COPY.

Importable by any benchmark (Django set up, PostgreSQL)::

    from scaledata import analyze, grow_tenant, make_tenant
    big = make_tenant("Big fleet", "big-fleet", sites=50)
    grow_tenant(big, devices=100_000, events=2_000_000, alerts=1_000, days=30)
    analyze()

``grow_tenant`` adds rows up to the given totals, so one run can measure at 1k and then grow the
same organization to 100k. Rows are what the services would have written for a fleet that has
been reporting for ``days`` days (telemetry, heartbeats, logs and a few security signals, in id
order = time order), without the per-row audit and publishing the services add: this is data to
read, not a test of the write path.
"""

import datetime
import json
import random

from django.db import connection
from django.utils import timezone

KINDS = (  # (kind, share of the stream, severity)
    ("device.telemetry", 0.80, "info"),
    ("device.heartbeat", 0.15, "debug"),
    ("device.log", 0.04, "info"),
    ("device.security", 0.01, "warning"),
)
_UID_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"


def make_tenant(name, slug, *, sites=50):
    """An organization with ``sites`` sites and one device type (through the services)."""
    from devices.models import DeviceType
    from encompass.tenancy.models import Site
    from encompass.tenancy.services import create_organization

    org = create_organization(name=name, slug=slug, actor=None)
    Site.objects.bulk_create(
        Site(organization=org, name=f"{name} site {i}", slug=f"{slug}-site-{i}")
        for i in range(sites)
    )
    DeviceType.objects.create(
        organization=org, manufacturer="Acme", model="Scale sensor", heartbeat_interval=60
    )
    return org


def _raw():
    connection.ensure_connection()
    return connection.connection


def _copy(table, columns, rows):
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with _raw().cursor() as cursor, cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


def _uid(rng):
    return "dev_" + "".join(rng.choice(_UID_ALPHABET) for _ in range(20))


def grow_tenant(org, *, devices, events, alerts=0, days=30, seed=17):
    """Add devices, events and alerts to ``org`` until it holds the given totals."""
    from devices.models import Device, DeviceType
    from devices.monitoring.models import Alert
    from encompass.events.models import Event
    from encompass.tenancy.models import Site

    rng = random.Random(f"{seed}-{org.pk}-{devices}-{events}")
    now = timezone.now()
    site_ids = list(Site.objects.filter(organization=org).values_list("pk", flat=True))
    dtype = DeviceType.objects.filter(organization=org).first()
    have = Device.objects.filter(organization=org).count()
    if devices > have:
        _copy(
            Device._meta.db_table,
            [
                "created_at",
                "updated_at",
                "uid",
                "manufacturer",
                "serial_number",
                "name",
                "state",
                "quarantined_from",
                "firmware_version",
                "firmware_security_version",
                "last_seen_at",
                "health",
                "location_notes",
                "criticality",
                "token_prefix",
                "token_hash",
                "organization_id",
                "site_id",
                "device_type_id",
            ],
            (
                (
                    now,
                    now,
                    _uid(rng),
                    dtype.manufacturer,
                    f"{org.slug}-{i:07d}",
                    f"{org.slug}-{i:07d}",
                    "deployed",
                    "",
                    "1.4.2",
                    3,
                    now - datetime.timedelta(seconds=rng.randrange(3600)),
                    "online" if i % 20 else "offline",
                    "",
                    "medium",
                    "",
                    "",
                    org.pk,
                    site_ids[i % len(site_ids)],
                    dtype.pk,
                )
                for i in range(have, devices)
            ),
        )
    device_rows = list(Device.objects.filter(organization=org).values_list("pk", "site_id"))
    have = Event.objects.filter(organization=org).count()
    if events > have:
        _copy_events(org, device_rows, have, events, days, now, rng)
    have = Alert.objects.filter(organization=org).count()
    if alerts > have:
        _copy(
            Alert._meta.db_table,
            [
                "created_at",
                "updated_at",
                "organization_id",
                "site_id",
                "device_id",
                "source",
                "kind",
                "severity",
                "title",
                "details",
                "dedupe_key",
                "status",
                "count",
                "first_seen_at",
                "last_seen_at",
                "resolution",
                "auto_resolved",
            ],
            (
                (
                    now,
                    now,
                    org.pk,
                    site,
                    device,
                    "rule",
                    "threshold",
                    "high" if i % 10 == 0 else "medium",
                    f"Temperature high on {org.slug}-{i:07d}",
                    "{}",
                    f"scale:{org.pk}:{i}",
                    "resolved" if i % 4 == 0 else ("acknowledged" if i % 4 == 1 else "open"),
                    1 + i % 7,
                    now - datetime.timedelta(minutes=i + 60),
                    now - datetime.timedelta(minutes=i),
                    "",
                    False,
                )
                for i in range(have, alerts)
                for device, site in [device_rows[i % len(device_rows)]]
            ),
        )


def _copy_events(org, device_rows, start, stop, days, now, rng):
    from encompass.events import partitions
    from encompass.events.models import Event

    span = datetime.timedelta(days=days).total_seconds()
    first = now - datetime.timedelta(days=days)
    # The history's day partitions, as the retention job would have made them day by day (no-op
    # off PostgreSQL); without them the rows would wait in the default partitions.
    partitions.ensure_days(today=first.astimezone(datetime.UTC).date(), ahead=days + 1)
    payloads = [
        json.dumps({"metrics": {"temp_c": 18 + t / 10, "rh": 40 + t % 9}}) for t in range(97)
    ]
    cumulative, acc = [], 0.0
    for kind, share, severity in KINDS:
        acc += share
        cumulative.append((acc, kind, severity))
    total = stop - start

    def rows():
        for n in range(total):
            # Each growth spreads its rows over the last ``days`` days, in time order.
            at = first + datetime.timedelta(seconds=span * n / total)
            device, site = device_rows[rng.randrange(len(device_rows))]
            pick = rng.random()
            kind, severity = next((k, s) for c, k, s in cumulative if pick <= c or c >= 0.999)
            payload = payloads[n % 97] if kind == "device.telemetry" else "{}"
            yield (kind, "device", severity, at, at, payload, device, org.pk, site)

    _copy(
        Event._meta.db_table,
        [
            "kind",
            "source",
            "severity",
            "occurred_at",
            "received_at",
            "payload",
            "device_id",
            "organization_id",
            "site_id",
        ],
        rows(),
    )


def analyze():
    """Refresh the planner's statistics and the visibility map after a bulk load, as autovacuum
    would later (VACUUM needs autocommit; inside a transaction only ANALYZE runs)."""
    verb = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
    with connection.cursor() as cursor:
        for table in ("events_event", "devices_device", "monitoring_alert"):
            cursor.execute(f"{verb} {table}")  # the tables grow_tenant writes


def settle():
    """Write the bulk load out now (a checkpoint), so measurements that follow do not share the
    disk with it. Needs a superuser (or pg_checkpoint); skipped otherwise."""
    from django.db import DatabaseError, transaction

    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")
    except DatabaseError:
        pass
