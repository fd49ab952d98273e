"""django-q2 jobs of incident response. Every job is safe to run twice (and concurrently)."""

from .services.escalation import run_escalation_rules
from .services.sla import check_sla_breaches
from .services.webhooks import deliver, fan_out_events, retry_due_deliveries


def escalate_alerts_job():
    return run_escalation_rules()


def sla_job():
    return len(check_sla_breaches())


def deliver_webhook(delivery_pk):
    delivery = deliver(delivery_pk)
    return delivery.status if delivery is not None else "skipped"


def webhook_job():
    """Queue deliveries for new events, then enqueue every due (re)try."""
    return {"queued": fan_out_events(), "retried": retry_due_deliveries()}
