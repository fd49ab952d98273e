from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """Outbound webhooks for every kind of event (their tables are still named ``incidents_*``:
    the app they started in; see migrations/0001_initial.py)."""

    name = "encompass.webhooks"
    label = "webhooks"
    verbose_name = "Outbound webhooks"

    def ready(self):
        from devices.identity.keystore import register_rewrap
        from encompass.schedules import register_schedule

        from .crypto import rewrap_webhook_secrets

        register_rewrap("webhook signing secret(s)", rewrap_webhook_secrets)
        register_schedule("webhooks.deliveries", "encompass.webhooks.tasks.webhook_job", minutes=1)
