from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "devices.monitoring"
    label = "monitoring"
    verbose_name = "Monitoring and alerts"

    def ready(self):
        from encompass.schedules import register_schedule
        from encompass.web.navigation import register

        register_schedule("monitoring.fleet", "devices.monitoring.tasks.monitor_fleet", minutes=1)
        register("Dashboard", "monitoring_ui:dashboard", order=5)
        register("Alerts", "monitoring_ui:alerts", order=40)
