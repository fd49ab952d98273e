"""Platform-wide background jobs."""

from django.utils import timezone


def worker_heartbeat():
    """Prove the worker is alive (read by /readyz)."""
    from encompass.events.models import WorkerHeartbeat

    WorkerHeartbeat.objects.update_or_create(name="default", defaults={"beat_at": timezone.now()})
