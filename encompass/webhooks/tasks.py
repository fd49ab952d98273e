"""django-q2 jobs of the outbound webhooks. Every job is safe to run twice (and concurrently)."""

from .services import deliver, fan_out_events, retry_due_deliveries


def deliver_webhook(delivery_pk):
    delivery = deliver(delivery_pk)
    return delivery.status if delivery is not None else "skipped"


def webhook_job():
    """Queue deliveries for new events, then enqueue every due (re)try."""
    return {"queued": fan_out_events(), "retried": retry_due_deliveries()}
