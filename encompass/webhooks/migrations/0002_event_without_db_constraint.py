"""Webhook deliveries keep their event's id without a database foreign key: the event table is
partitioned on PostgreSQL (events 0006), and a partitioned table's unique keys include its
partition key, so nothing can reference ``events_event(id)`` alone."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0001_initial"),
        ("events", "0005_job_attempt"),
    ]

    operations = [
        migrations.AlterField(
            model_name="webhookdelivery",
            name="event",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="events.event",
            ),
        ),
    ]
