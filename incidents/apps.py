from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    label = "incidents"
    verbose_name = "Incident response"

    def ready(self):
        from devices.identity.keystore import register_rewrap
        from encompass.schedules import register_schedule
        from encompass.web.navigation import register

        from .crypto import rewrap_webhook_secrets

        register_rewrap("webhook signing secret(s)", rewrap_webhook_secrets)

        register("Incidents", "incidents_ui:board", order=45)
        register_schedule("incidents.escalation", "incidents.tasks.escalate_alerts_job", minutes=1)
        register_schedule("incidents.sla", "incidents.tasks.sla_job", minutes=1)
        register_schedule("incidents.webhooks", "incidents.tasks.webhook_job", minutes=1)
