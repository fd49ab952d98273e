from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    label = "incidents"
    verbose_name = "Incident response"

    def ready(self):
        from encompass.schedules import register_schedule
        from encompass.web.navigation import register

        register("Incidents", "incidents_ui:board", order=45)
        register_schedule("incidents.escalation", "incidents.tasks.escalate_alerts_job", minutes=1)
        register_schedule("incidents.sla", "incidents.tasks.sla_job", minutes=1)
