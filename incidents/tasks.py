"""django-q2 jobs of incident response. Every job is safe to run twice (and concurrently)."""

from .services.escalation import run_escalation_rules
from .services.sla import check_sla_breaches


def escalate_alerts_job():
    return run_escalation_rules()


def sla_job():
    return len(check_sla_breaches())
