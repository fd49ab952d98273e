"""What happened to each background job, including the runs django-q2 cannot see end.

django-q2 records a job's result when the job returns or raises. A worker killed under a job
(SIGKILL, the OOM killer, a host going down) records nothing: with the ORM broker the job's
queue row stays and is handed out again after ``Q_CLUSTER["retry"]`` seconds, for ever if it
kills its worker every time. So:

* ``pre_execute`` (in the worker, before the job runs) marks the job ``running`` and counts the
  attempt; ``post_execute`` (in the monitor, after the result is saved) marks it ``succeeded`` or
  ``failed``;
* the ``jobs.interrupted`` schedule (:func:`sweep_interrupted`, every minute) finds runs still
  ``running`` longer than the job timeout -- their worker died -- and marks them ``interrupted``
  (the failed-run record django-q2 does not write); one interrupted ``max_attempts`` times is
  ``dead``: its queue row is deleted so it stops coming back, and it is listed in the admin
  under *Event stream → Job attempts* (the dead-letter view) with django-q2's own *Failed tasks*.
"""

import datetime
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

logger = logging.getLogger(__name__)


def _model():
    from encompass.events.models import JobAttempt

    return JobAttempt


def job_started(sender, func=None, task=None, **kwargs):
    """django-q2 ``pre_execute``: never raises (it runs outside the job's own error handling)."""
    try:
        JobAttempt = _model()
        now = timezone.now()
        with transaction.atomic():
            attempt, _ = JobAttempt.objects.select_for_update().get_or_create(
                task_id=task["id"],
                defaults={
                    "name": str(task.get("name", ""))[:200],
                    "func": str(task.get("func", ""))[:256],
                    "state": JobAttempt.State.RUNNING,
                    "started_at": now,
                },
            )
            attempt.attempts += 1
            attempt.state = JobAttempt.State.RUNNING
            attempt.started_at = now
            attempt.finished_at = None
            ack = task.get("ack_id")
            attempt.queue_id = int(ack) if str(ack or "").isdigit() else None
            attempt.save()
    except Exception:
        logger.warning(
            "could not record the start of job %s", task and task.get("id"), exc_info=True
        )


def job_finished(sender, task=None, **kwargs):
    """django-q2 ``post_execute`` (the monitor, after the result is saved)."""
    try:
        JobAttempt = _model()
        state = JobAttempt.State.SUCCEEDED if task.get("success") else JobAttempt.State.FAILED
        JobAttempt.objects.filter(task_id=task["id"]).update(
            state=state,
            finished_at=timezone.now(),
            error="" if task.get("success") else str(task.get("result", ""))[:2000],
        )
    except Exception:
        logger.warning("could not record the end of job %s", task and task.get("id"), exc_info=True)


def sweep_interrupted(*, now=None, grace=None):
    """Mark runs whose worker died ``interrupted``; dead-letter those interrupted too often.
    Answers ``(interrupted, dead)``."""
    from django_q.models import OrmQ

    JobAttempt = _model()
    now = now or timezone.now()
    conf = settings.Q_CLUSTER
    grace = conf["timeout"] + 30 if grace is None else grace
    stale = JobAttempt.objects.filter(
        state=JobAttempt.State.RUNNING, started_at__lt=now - datetime.timedelta(seconds=grace)
    )
    interrupted = dead = 0
    for attempt in stale:
        with transaction.atomic():
            attempt = JobAttempt.objects.select_for_update().get(pk=attempt.pk)
            if attempt.state != JobAttempt.State.RUNNING:
                continue
            if attempt.attempts >= conf.get("max_attempts", 3):
                attempt.state = JobAttempt.State.DEAD
                attempt.error = (
                    f"Interrupted {attempt.attempts} times (the worker died under it); "
                    "removed from the queue. Fix the cause, then queue it again."
                )
                if attempt.queue_id is not None:
                    OrmQ.objects.filter(pk=attempt.queue_id).delete()
                dead += 1
                logger.error("job %s (%s) dead-lettered", attempt.name, attempt.func)
            else:
                attempt.state = JobAttempt.State.INTERRUPTED
                attempt.error = "The worker died under it; the queue hands it out again."
                interrupted += 1
            attempt.finished_at = now
            attempt.save(update_fields=["state", "error", "finished_at"])
    return interrupted, dead


def connect():
    from django_q.signals import post_execute, pre_execute

    pre_execute.connect(job_started, dispatch_uid="encompass.jobs.started")
    post_execute.connect(job_finished, dispatch_uid="encompass.jobs.finished")
