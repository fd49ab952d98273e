"""Event.txid and Event.horizon: database defaults on PostgreSQL, so readers that follow the
table never skip a late commit (encompass/events/visibility.py).

The columns are added without a default first and the default set afterwards, so PostgreSQL
does not rewrite the (large) table: existing rows keep NULL, which every reader treats as
"written before this migration" (all of them committed: ALTER TABLE waited for their writers).
On SQLite the columns stay plain and NULL (one writer at a time: ids become visible in order).
"""

from django.db import migrations, models

import encompass.events.visibility

PG_FORWARD = [
    "ALTER TABLE events_event ALTER COLUMN txid SET DEFAULT (pg_current_xact_id()::text::bigint)",
    "ALTER TABLE events_event ALTER COLUMN horizon "
    "SET DEFAULT (pg_snapshot_xmin(pg_current_snapshot())::text::bigint)",
    # Rows arrive in txid order, more or less: a BRIN index costs next to nothing on insert and
    # lets the fan-out read "txid >= x" from the table's recent end.
    "CREATE INDEX event_txid_brin ON events_event USING brin (txid)",
]
PG_BACKWARD = [
    "DROP INDEX IF EXISTS event_txid_brin",
    "ALTER TABLE events_event ALTER COLUMN horizon DROP DEFAULT",
    "ALTER TABLE events_event ALTER COLUMN txid DROP DEFAULT",
]


def _on_postgresql(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0003_retention_site_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.AddField(
                    model_name="event",
                    name="txid",
                    field=models.BigIntegerField(blank=True, editable=False, null=True),
                ),
                migrations.AddField(
                    model_name="event",
                    name="horizon",
                    field=models.BigIntegerField(blank=True, editable=False, null=True),
                ),
                migrations.RunPython(_on_postgresql(PG_FORWARD), _on_postgresql(PG_BACKWARD)),
            ],
            state_operations=[
                migrations.AddField(
                    model_name="event",
                    name="txid",
                    field=models.BigIntegerField(
                        blank=True,
                        db_default=encompass.events.visibility.CurrentTransactionId(),
                        editable=False,
                        null=True,
                    ),
                ),
                migrations.AddField(
                    model_name="event",
                    name="horizon",
                    field=models.BigIntegerField(
                        blank=True,
                        db_default=encompass.events.visibility.SnapshotHorizon(),
                        editable=False,
                        null=True,
                    ),
                ),
            ],
        ),
    ]
