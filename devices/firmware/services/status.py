"""A rollout's status changes, in one place: the transition check, the write (with its audit entry
and live event), cancelling the updates not yet started, and aborting. Called with the rollout
row locked, by the people-facing services (rollouts.py) and by the engine (engine.py) alike."""

from django.utils import timezone

from encompass.audit.services import record_audit
from encompass.events.choices import Severity
from encompass.events.services import record_event
from encompass.exceptions import ValidationError

from ..choices import ROLLOUT_TRANSITIONS, RolloutStatus, UpdateStatus, WaveStatus
from ..models import DeviceUpdate
from .progress import rollout_payload

PAST = {
    "start": "started",
    "pause": "paused",
    "resume": "resumed",
    "abort": "aborted",
    "rollback": "rolled back",
}


def check_move(locked, action):
    sources, _target = ROLLOUT_TRANSITIONS[action]
    if locked.status not in sources:
        done = PAST.get(action, f"{action}ed")
        raise ValidationError(
            {"status": f"A {locked.get_status_display().lower()} rollout cannot be {done}."}
        )


def set_status(locked, to, *, actor, action, reason="", event_kind=None, severity=Severity.INFO):
    """Write a rollout status change with its audit entry and live event."""
    before = locked.status
    locked.status = to
    locked.status_reason = (reason or "")[:300]
    fields = ["status", "status_reason", "updated_at"]
    now = timezone.now()
    if to == RolloutStatus.RUNNING and locked.started_at is None:
        locked.started_at = now
        fields.append("started_at")
    if to in (RolloutStatus.COMPLETED, RolloutStatus.ABORTED, RolloutStatus.ROLLED_BACK):
        locked.finished_at = now
        fields.append("finished_at")
    locked.save(update_fields=fields)
    record_audit(
        f"firmware.rollout.{action}",
        actor=actor,
        obj=locked,
        changes={"status": [before, to], "reason": reason},
    )
    record_event(
        event_kind or f"rollout.{to}",
        organization=locked.organization,
        severity=severity,
        payload=rollout_payload(locked, previous=before),
    )
    return locked


def cancel_open_updates(locked, reason, statuses=(UpdateStatus.PENDING, UpdateStatus.OFFERED)):
    now = timezone.now()
    return DeviceUpdate.objects.filter(rollout=locked, status__in=statuses).update(
        status=UpdateStatus.CANCELLED,
        finished_at=now,
        failure_reason=reason[:500],
        updated_at=now,
    )


def abort_locked(locked, reason, *, actor, severity, note=""):
    """Abort for good: updates not yet started are cancelled, pending waves never start."""
    cancelled = cancel_open_updates(locked, f"Rollout aborted: {reason}")
    locked.wave_set.filter(status=WaveStatus.PENDING).update(status=WaveStatus.CANCELLED)
    return set_status(
        locked,
        RolloutStatus.ABORTED,
        actor=actor,
        action="abort",
        reason=f"{reason}{note} ({cancelled} pending updates cancelled)",
        severity=severity,
    )
