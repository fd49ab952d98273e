"""Idempotency keys in their own table, then (PostgreSQL) the event table partitioned by time.

1. ``EventKey (device, event_id)`` is created and filled from the events that still need it:
   those whose device time is inside ingest's acceptance window (a re-send of an older event is
   refused as too old before any key is read). Then the old unique constraint is removed.
2. On PostgreSQL, ``events_event`` is rebuilt as the partitioned table described in
   encompass/events/partitions.py: every row is copied into it (same ids, the same sequence
   carries on), its indexes and foreign keys re-created under the same names, and the old table
   dropped. Nothing may hold a foreign key to events_event (webhook deliveries dropped theirs in
   webhooks 0002), since a partitioned table's unique keys include the partition key; the
   ORM's ``on_delete`` still applies to deletes made through it. The copy holds an exclusive lock on
   the table for its duration (about a minute per two million events on a small machine).

Reversing rebuilds a plain table the same way (all rows kept) and the unique constraint.
"""

import datetime

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from encompass.events import partitions


def _fill_keys(apps, schema_editor):
    max_age = settings.ENCOMPASS.get("INGEST_MAX_AGE_SECONDS", 7 * 86400)
    since = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=max_age, days=1)
    schema_editor.execute(
        "INSERT INTO events_eventkey (device_id, event_id, occurred_at) "
        "SELECT device_id, event_id, occurred_at FROM events_event "
        "WHERE event_id IS NOT NULL AND device_id IS NOT NULL AND occurred_at >= %s",
        [schema_editor.connection.ops.adapt_datetimefield_value(since)],
    )


def _definitions(cursor, table):
    """The table's secondary indexes and foreign keys (name, DDL tail), for re-creation."""
    cursor.execute(
        "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE x.indrelid = %s::regclass AND NOT x.indisprimary",
        [table],
    )
    indexes = cursor.fetchall()
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype = 'f'",
        [table],
    )
    return indexes, cursor.fetchall()


def _rebuild(schema_editor, partitioned):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("LOCK TABLE events_event IN ACCESS EXCLUSIVE MODE")
        indexes, fkeys = _definitions(cursor, "events_event")
        cursor.execute("SELECT pg_get_serial_sequence('events_event', 'id')")
        (sequence,) = cursor.fetchone()
        cursor.execute(f"SELECT last_value, is_called FROM {sequence}")
        last_value, is_called = cursor.fetchone()
        cursor.execute(
            "SELECT min(received_at)::date FROM events_event WHERE kind IN "
            "('device.telemetry', 'device.heartbeat', 'device.log')"
        )
        (oldest,) = cursor.fetchone()
        # LIKE copies the columns, NOT NULL, CHECKs and defaults (txid, horizon), not identity.
        tail = " PARTITION BY LIST (kind)" if partitioned else ""
        cursor.execute(
            "CREATE TABLE events_event_new "
            f"(LIKE events_event INCLUDING DEFAULTS INCLUDING CONSTRAINTS){tail}"
        )
        cursor.execute("CREATE SEQUENCE events_event_new_id_seq")
        cursor.execute(
            "ALTER TABLE events_event_new ALTER COLUMN id "
            "SET DEFAULT nextval('events_event_new_id_seq')"
        )
        if partitioned:
            today = datetime.datetime.now(datetime.UTC).date()
            first = max(oldest or today, today - datetime.timedelta(days=partitions.BACK_DAYS))
            last = today + datetime.timedelta(days=partitions.AHEAD_DAYS)
            partitions.create_layout(cursor, "events_event_new", first, last)
        cursor.execute("INSERT INTO events_event_new SELECT * FROM events_event")
        cursor.execute("DROP TABLE events_event")
        cursor.execute("ALTER TABLE events_event_new RENAME TO events_event")
        cursor.execute("ALTER SEQUENCE events_event_new_id_seq RENAME TO events_event_id_seq")
        cursor.execute("ALTER SEQUENCE events_event_id_seq OWNED BY events_event.id")
        cursor.execute(
            "SELECT setval('events_event_id_seq', %s, %s)", [last_value, bool(is_called)]
        )
        key = "id, kind, received_at" if partitioned else "id"
        cursor.execute(f"ALTER TABLE events_event ADD CONSTRAINT events_event_pkey PRIMARY KEY ({key})")
        for _name, ddl in indexes:
            cursor.execute(ddl)
        for name, ddl in fkeys:
            cursor.execute(f'ALTER TABLE events_event ADD CONSTRAINT "{name}" {ddl}')


def _partition(apps, schema_editor):
    _rebuild(schema_editor, partitioned=True)


def _unpartition(apps, schema_editor):
    _rebuild(schema_editor, partitioned=False)


class Migration(migrations.Migration):
    dependencies = [
        ("devices", "0004_list_sort_indexes"),
        ("events", "0005_job_attempt"),
        # Its foreign key to events_event is gone first (no unique key on id alone after this).
        ("webhooks", "0002_event_without_db_constraint"),
    ]

    operations = [
        migrations.CreateModel(
            name="EventKey",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "device",
                        "event_id",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                (
                    "device",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="devices.device",
                    ),
                ),
                ("event_id", models.CharField(max_length=64)),
                ("occurred_at", models.DateTimeField(db_index=True)),
            ],
        ),
        migrations.RunPython(_fill_keys, migrations.RunPython.noop),
        migrations.RemoveConstraint(
            model_name="event",
            name="event_id_unique_per_device",
        ),
        migrations.RunPython(_partition, _unpartition),
    ]
