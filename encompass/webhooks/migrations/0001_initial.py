"""The webhook models move here from the incidents app: state only, no data moves.

Their tables were created by incidents/migrations/0001 and 0002 and keep their names
(``incidents_webhook*``, set as ``db_table``); incidents/migrations/0003 removes the models from
that app's state. The content types (and so the permissions and object permissions on them) are
relabelled ``webhooks`` so they follow the models.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


MODELS = ("webhookcursor", "webhookendpoint", "webhookdelivery")


def _relabel(apps, old, new):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MODELS:
        if not ContentType.objects.filter(app_label=new, model=model).exists():
            ContentType.objects.filter(app_label=old, model=model).update(app_label=new)


def relabel_content_types(apps, schema_editor):
    _relabel(apps, "incidents", "webhooks")


def unlabel_content_types(apps, schema_editor):
    _relabel(apps, "webhooks", "incidents")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('incidents', '0002_webhook_cursor_position'),
        ('events', '0005_job_attempt'),
        ('tenancy', '0002_membership_invitation'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='WebhookCursor',
                    fields=[
                        ('name', models.CharField(max_length=50, primary_key=True, serialize=False)),
                        ('last_event_id', models.BigIntegerField(default=0)),
                        ('position_txid', models.BigIntegerField(blank=True, null=True)),
                        ('position_id', models.BigIntegerField(default=0)),
                    ],
                    options={
                        'db_table': 'incidents_webhookcursor',
                    },
                ),
                migrations.CreateModel(
                    name='WebhookEndpoint',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('name', models.CharField(max_length=200)),
                        ('url', models.URLField(max_length=500)),
                        ('event_prefixes', models.JSONField(default=list, help_text='Event kinds to send, as prefixes: ["incident.", "alert."].')),
                        ('active', models.BooleanField(default=True)),
                        ('secret_encrypted', models.BinaryField()),
                        ('secret_hint', models.CharField(editable=False, max_length=8)),
                        ('created_by', models.ForeignKey(blank=True, editable=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('organization', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='tenancy.organization')),
                    ],
                    options={
                        'db_table': 'incidents_webhookendpoint',
                        'ordering': ['organization', 'name'],
                    },
                ),
                migrations.CreateModel(
                    name='WebhookDelivery',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('kind', models.CharField(max_length=64)),
                        ('payload', models.JSONField()),
                        ('status', models.CharField(choices=[('pending', 'Pending'), ('retrying', 'Retrying'), ('delivered', 'Delivered'), ('failed', 'Gave up')], default='pending', max_length=10)),
                        ('attempts', models.PositiveIntegerField(default=0)),
                        ('next_attempt_at', models.DateTimeField(blank=True, db_index=True, null=True)),
                        ('last_attempt_at', models.DateTimeField(blank=True, null=True)),
                        ('last_status_code', models.PositiveIntegerField(blank=True, null=True)),
                        ('last_error', models.TextField(blank=True)),
                        ('delivered_at', models.DateTimeField(blank=True, null=True)),
                        ('event', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='events.event')),
                        ('organization', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='tenancy.organization')),
                        ('endpoint', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='webhooks.webhookendpoint')),
                    ],
                    options={
                        'verbose_name_plural': 'webhook deliveries',
                        'db_table': 'incidents_webhookdelivery',
                        'ordering': ['-pk'],
                        'constraints': [models.UniqueConstraint(condition=models.Q(('event__isnull', False)), fields=('endpoint', 'event'), name='one_delivery_per_event_and_endpoint')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(relabel_content_types, unlabel_content_types),
    ]
