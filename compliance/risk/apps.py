from django.apps import AppConfig


class RiskConfig(AppConfig):
    name = "compliance.risk"
    label = "risk"
    verbose_name = "Risk register"
