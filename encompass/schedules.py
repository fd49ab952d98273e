"""Recurring background jobs, declared by the apps that own them.

An app registers its jobs in ``AppConfig.ready``::

    from encompass.schedules import register_schedule
    register_schedule("devices.health", "devices.monitoring.tasks.compute_health", minutes=1)

``manage.py sync_schedules`` (run by ``make run`` and at deploy) writes them into django-q2's
``Schedule`` table, creating, updating and removing rows it owns (named ``encompass:*``).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class ScheduledJob:
    name: str
    func: str
    minutes: int


_jobs: dict[str, ScheduledJob] = {}


def register_schedule(name, func, *, minutes):
    if minutes < 1:
        raise ValueError("django-q2 schedules run at most once a minute")
    _jobs[name] = ScheduledJob(name, func, minutes)


def registered():
    return dict(_jobs)


def sync():
    """Upsert our schedules into django-q2; remove ``encompass:*`` rows no longer declared."""
    from django_q.models import Schedule

    wanted = {f"encompass:{job.name}": job for job in _jobs.values()}
    for name, job in wanted.items():
        Schedule.objects.update_or_create(
            name=name,
            defaults={
                "func": job.func,
                "schedule_type": Schedule.MINUTES,
                "minutes": job.minutes,
                "repeats": -1,
            },
        )
    stale = Schedule.objects.filter(name__startswith="encompass:").exclude(name__in=wanted)
    removed = stale.count()
    stale.delete()
    return len(wanted), removed
