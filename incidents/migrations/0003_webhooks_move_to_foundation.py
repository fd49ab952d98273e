"""The webhook models moved to the foundation app ``webhooks`` (encompass/webhooks): state only.

Their tables stay as they are (the webhooks models name them in ``db_table``); nothing is dropped.
"""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('webhooks', '0001_initial'),
        ('incidents', '0002_webhook_cursor_position'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(
                    name='WebhookCursor',
                ),
                migrations.RemoveField(
                    model_name='webhookendpoint',
                    name='created_by',
                ),
                migrations.RemoveField(
                    model_name='webhookendpoint',
                    name='organization',
                ),
                migrations.DeleteModel(
                    name='WebhookDelivery',
                ),
                migrations.DeleteModel(
                    name='WebhookEndpoint',
                ),
            ],
            database_operations=[],
        ),
    ]
