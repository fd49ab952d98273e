from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "encompass.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self):
        from . import signals  # noqa: F401  (sign-in / sign-in failure receivers)
