"""A job for the worker-kill scenario: slow, with an idempotent effect."""

import time

from django.utils import timezone


def slow_mark(name, seconds):
    from encompass.events.models import WorkerHeartbeat

    time.sleep(seconds)
    WorkerHeartbeat.objects.update_or_create(name=name, defaults={"beat_at": timezone.now()})
