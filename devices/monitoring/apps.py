from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "devices.monitoring"
    label = "monitoring"
    verbose_name = "Monitoring and alerts"
