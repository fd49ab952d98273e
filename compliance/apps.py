from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"
    label = "compliance"
    verbose_name = "Compliance"

    def ready(self):
        from encompass.schedules import register_schedule
        from encompass.web.navigation import register

        from .checks import setting

        register("Compliance", "compliance_ui:scorecard", order=60)
        register_schedule(
            "compliance.run_checks",
            "compliance.tasks.run_all_checks",
            minutes=int(setting("CHECK_INTERVAL_MINUTES", 15)),
        )
        register_schedule(
            "compliance.daily_scores", "compliance.tasks.record_daily_scores", minutes=24 * 60
        )
        register_schedule(
            "compliance.check_run_retention", "compliance.tasks.prune_check_runs", minutes=60
        )
        register_schedule(
            "compliance.evidence_expiry", "compliance.tasks.flag_expired_evidence", minutes=60
        )
