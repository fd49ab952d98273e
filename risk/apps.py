from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _load_shipped_threats(sender, using="default", **kwargs):
    """Keep the shipped threat catalogue in the database after every migrate (idempotent)."""
    from django.db import connections

    from .models import Threat
    from .services.threats import load_threat_catalogue

    if Threat._meta.db_table not in connections[using].introspection.table_names():
        return  # migrated backwards past the risk tables
    load_threat_catalogue(actor="migrate:risk")


class RiskConfig(AppConfig):
    name = "risk"
    label = "risk"
    verbose_name = "Risk register"

    def ready(self):
        from encompass.schedules import register_schedule
        from encompass.web.navigation import register

        register("Risk", "risk_ui:register", order=50)
        register_schedule("risk.register", "risk.tasks.check_register", minutes=60)
        post_migrate.connect(_load_shipped_threats, sender=self, dispatch_uid="risk-threats")
