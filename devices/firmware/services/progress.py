"""Counting a rollout's progress from its DeviceUpdate rows (never from cached counters), and the
event payloads the live UI reads."""

from collections import defaultdict

from django.db.models import Count, Max, Min

from ..choices import FAILED_STATES, IN_FLIGHT, UpdateStatus
from ..models import DeviceUpdate, RolloutWave


def _empty():
    return {
        "total": 0,
        "pending": 0,
        "in_progress": 0,
        "succeeded": 0,
        "failed": 0,
        "cancelled": 0,
        "rolled_back": 0,
        "by_status": {},
    }


def counts_by_wave(rollout):
    """``{wave_id: counts}`` in one aggregate query over the rollout's updates."""
    rows = (
        DeviceUpdate.objects.filter(rollout_id=rollout.pk)
        .values("wave_id", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    result = defaultdict(_empty)
    for row in rows:
        c = result[row["wave_id"]]
        status, n = row["status"], row["n"]
        c["by_status"][status] = n
        if status == UpdateStatus.CANCELLED:
            c["cancelled"] += n
            continue
        c["total"] += n
        if status == UpdateStatus.PENDING:
            c["pending"] += n
        elif status in IN_FLIGHT:
            c["in_progress"] += n
        elif status == UpdateStatus.SUCCEEDED:
            c["succeeded"] += n
        elif status == UpdateStatus.ROLLED_BACK:
            c["rolled_back"] += n
            c["succeeded"] += n  # it did take the release before it was rolled back
        elif status in FAILED_STATES:
            c["failed"] += n
    return result


def wave_ratios(wave, counts):
    """(success %, failure %) of a wave, failures the operator accepted set aside."""
    accepted = min(wave.accepted_failures, counts["failed"])
    denominator = counts["total"] - accepted
    if denominator <= 0:
        return 100.0, 0.0
    return (
        counts["succeeded"] * 100.0 / denominator,
        (counts["failed"] - accepted) * 100.0 / denominator,
    )


def progress(rollout, waves=None):
    """Per-wave progress, JSON-ready (REST ``progress``, the live UI, event payloads)."""
    counts = counts_by_wave(rollout)
    waves = waves if waves is not None else RolloutWave.objects.filter(rollout_id=rollout.pk)
    out = []
    for wave in waves:
        c = counts.get(wave.pk) or _empty()
        success_pct, failure_pct = wave_ratios(wave, c)
        out.append(
            {
                "number": wave.number,
                "status": wave.status,
                "planned": wave.planned,
                "started_at": wave.started_at.isoformat() if wave.started_at else None,
                "finished_at": wave.finished_at.isoformat() if wave.finished_at else None,
                "success_percent": round(success_pct, 1),
                "failure_percent": round(failure_pct, 1),
                "accepted_failures": wave.accepted_failures,
                **{k: v for k, v in c.items()},
            }
        )
    return out


def rollout_payload(rollout, **extra):
    return {
        "rollout": rollout.pk,
        "name": rollout.name,
        "status": rollout.status,
        "release": rollout.release_id,
        "reason": rollout.status_reason,
        "waves": progress(rollout),
        **extra,
    }


def progress_timeline(rollout):
    """The rollout over time, for its chart: cumulative devices offered, succeeded and failed at
    each minute (or hour, for a rollout longer than two days) where one of them changed. Three
    aggregate queries, whatever the number of devices."""
    from django.db.models.functions import TruncHour, TruncMinute

    updates = DeviceUpdate.objects.filter(rollout=rollout)
    span = updates.aggregate(first=Min("offered_at"), last=Max("finished_at"))
    first, last = span["first"], span["last"] or span["first"]
    trunc = TruncMinute
    if first is not None and last is not None and (last - first).total_seconds() > 2 * 86400:
        trunc = TruncHour
    series = {
        "offered": updates.filter(offered_at__isnull=False)
        .annotate(at=trunc("offered_at"))
        .values_list("at")
        .annotate(n=Count("pk"))
        .order_by("at"),
        "succeeded": updates.filter(status=UpdateStatus.SUCCEEDED, finished_at__isnull=False)
        .annotate(at=trunc("finished_at"))
        .values_list("at")
        .annotate(n=Count("pk"))
        .order_by("at"),
        "failed": updates.filter(status__in=FAILED_STATES, finished_at__isnull=False)
        .annotate(at=trunc("finished_at"))
        .values_list("at")
        .annotate(n=Count("pk"))
        .order_by("at"),
    }
    out = {}
    for name, rows in series.items():
        total, points = 0, []
        for at, n in rows:
            total += n
            points.append([at.isoformat(), total])
        out[name] = points
    return {"unit": "hour" if trunc is TruncHour else "minute", "series": out}
