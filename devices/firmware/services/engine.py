"""The rollout driver: starts waves, expires deadlines, applies thresholds, advances.

``drive_rollouts`` runs every minute (django-q2 schedule ``firmware.rollouts``); each step is
one transaction under the rollout's row lock, and is safe to run twice.
"""

import datetime
import logging
import secrets

from django.db import transaction
from django.utils import timezone

from devices.choices import LifecycleState
from encompass.audit.services import record_audit
from encompass.events.choices import Severity
from encompass.events.services import record_event

from ..choices import FailureAction, RolloutStatus, UpdateStatus, WaveStatus
from ..models import DeviceUpdate, Rollout
from .progress import counts_by_wave, rollout_payload, wave_ratios
from .status import abort_locked, set_status
from .updates import change_update

logger = logging.getLogger(__name__)
DRIVER = "job:rollout-driver"
STARTABLE_UPDATES = (
    UpdateStatus.OFFERED,
    UpdateStatus.DOWNLOADING,
    UpdateStatus.INSTALLING,
    UpdateStatus.REBOOTING,
)


def _wave_event(locked, wave, kind, severity=Severity.INFO, **extra):
    record_event(
        kind,
        organization=locked.organization,
        severity=severity,
        payload=rollout_payload(locked, wave=wave.number, **extra),
    )


def start_wave(locked, wave, *, actor):
    """Open a wave: each of its devices gets a random start delay, then is offered the release."""
    now = timezone.now()
    wave.status = WaveStatus.RUNNING
    wave.started_at = now
    wave.save(update_fields=["status", "started_at", "updated_at"])
    rng = secrets.SystemRandom()
    updates = list(DeviceUpdate.objects.filter(wave=wave, status=UpdateStatus.PENDING))
    for update in updates:
        delay = (
            rng.randint(0, locked.max_start_delay_seconds) if locked.max_start_delay_seconds else 0
        )
        update.not_before = now + datetime.timedelta(seconds=delay)
    DeviceUpdate.objects.bulk_update(updates, ["not_before"])
    record_audit(
        "firmware.rollout.wave_start",
        actor=actor,
        obj=locked,
        changes={"wave": wave.number, "devices": len(updates)},
    )
    _wave_event(locked, wave, "rollout.wave_started")


def finish_wave_and_continue(locked, wave, *, actor):
    """Close ``wave`` and start the next one, or complete the rollout after the last."""
    wave.status = WaveStatus.COMPLETED
    wave.finished_at = timezone.now()
    wave.save(update_fields=["status", "finished_at", "updated_at"])
    following = locked.wave_set.filter(number__gt=wave.number, status=WaveStatus.PENDING)
    nxt = following.order_by("number").first()
    if nxt is None:
        set_status(
            locked,
            RolloutStatus.COMPLETED,
            actor=actor,
            action="complete",
            reason=f"All {wave.number} waves completed",
        )
        return
    record_audit(
        "firmware.rollout.wave_advance",
        actor=actor,
        obj=locked,
        changes={"from_wave": wave.number, "to_wave": nxt.number},
    )
    _wave_event(locked, wave, "rollout.wave_advanced", next_wave=nxt.number)
    start_wave(locked, nxt, actor=actor)


def expire_updates(locked, *, now=None):
    """Deadlines: no success report in time, or no healthy heartbeat after the reboot."""
    now = now or timezone.now()
    expired = 0
    stalled = (
        DeviceUpdate.objects.select_for_update(skip_locked=True)
        .filter(
            rollout=locked,
            status__in=STARTABLE_UPDATES,
            offered_at__lt=now - datetime.timedelta(minutes=locked.update_timeout_minutes),
        )
        .select_related("device", "release", "wave", "rollout")
    )
    for update in stalled:
        change_update(
            update,
            UpdateStatus.TIMED_OUT,
            actor=DRIVER,
            reason=f"No success report within {locked.update_timeout_minutes} minutes of the "
            f"offer (last status: {update.get_status_display().lower()}).",
        )
        expired += 1
    unhealthy = (
        DeviceUpdate.objects.select_for_update(skip_locked=True)
        .filter(rollout=locked, status=UpdateStatus.REPORTED_SUCCESS, health_deadline__lt=now)
        .select_related("device", "release", "wave", "rollout")
    )
    for update in unhealthy:
        change_update(
            update,
            UpdateStatus.TIMED_OUT,
            actor=DRIVER,
            reason=f"Reported success but no healthy heartbeat on {update.release.version} "
            f"within {locked.health_deadline_minutes} minutes after the reboot.",
        )
        expired += 1
    return expired


def _cancel_ineligible(locked, wave):
    """Devices that left service (quarantined, maintenance, decommissioned) are not offered."""
    gone = (
        DeviceUpdate.objects.select_for_update(skip_locked=True)
        .filter(wave=wave, status=UpdateStatus.PENDING)
        .exclude(device__state=LifecycleState.DEPLOYED)
        .select_related("device", "release", "wave", "rollout")
    )
    for update in gone:
        change_update(
            update,
            UpdateStatus.CANCELLED,
            actor=DRIVER,
            reason=f"Device is {update.device.get_state_display().lower()}, not deployed.",
        )


def check_thresholds(locked, *, actor=DRIVER):
    """Apply the failure threshold to every started wave; True when the rollout was stopped."""
    counts = counts_by_wave(locked)
    for wave in locked.wave_set.exclude(status__in=[WaveStatus.PENDING, WaveStatus.CANCELLED]):
        c = counts.get(wave.pk)
        if not c or not c["failed"]:
            continue
        _success, failure_pct = wave_ratios(wave, c)
        if failure_pct > locked.failure_threshold:
            reason = (
                f"Wave {wave.number}: {c['failed'] - wave.accepted_failures} of {c['total']} "
                f"devices failed ({failure_pct:.0f}% > {locked.failure_threshold}% threshold)"
            )
            _stop_for_failures(locked, wave, reason, actor)
            return True
    return False


def _stop_for_failures(locked, wave, reason, actor):
    if wave.status != WaveStatus.COMPLETED:
        wave.status = WaveStatus.FAILED
        wave.save(update_fields=["status", "updated_at"])
    if locked.failure_action == FailureAction.ABORT:
        abort_locked(locked, reason, actor=actor, severity=Severity.ERROR, note="; aborted")
    else:
        set_status(
            locked,
            RolloutStatus.PAUSED,
            actor=actor,
            action="pause",
            reason=f"{reason}; paused",
            severity=Severity.ERROR,
        )


def _step(locked, now):
    """One evaluation of a running rollout."""
    expire_updates(locked, now=now)
    if check_thresholds(locked):
        return
    wave = (
        locked.wave_set.filter(
            status__in=[WaveStatus.RUNNING, WaveStatus.SOAKING, WaveStatus.AWAITING_APPROVAL]
        )
        .order_by("number")
        .first()
    )
    if wave is None:
        nxt = locked.wave_set.filter(status=WaveStatus.PENDING).order_by("number").first()
        if nxt is not None:
            start_wave(locked, nxt, actor=DRIVER)
        return
    _cancel_ineligible(locked, wave)
    c = counts_by_wave(locked).get(wave.pk)
    if wave.status == WaveStatus.RUNNING:
        if not c or c["total"] == 0:  # every device left service: nothing to wait for
            finish_wave_and_continue(locked, wave, actor=DRIVER)
            return
        success_pct, _failure = wave_ratios(wave, c)
        if success_pct >= locked.success_threshold:
            wave.status = WaveStatus.SOAKING
            wave.soak_started_at = now
            wave.save(update_fields=["status", "soak_started_at", "updated_at"])
            record_audit(
                "firmware.rollout.wave_soak",
                actor=DRIVER,
                obj=locked,
                changes={"wave": wave.number, "success_percent": round(success_pct, 1)},
            )
            _wave_event(locked, wave, "rollout.wave_soaking")
            # fall through: a zero soak moves on in the same step
        elif c["pending"] == 0 and c["in_progress"] == 0:
            wave.status = WaveStatus.FAILED
            wave.save(update_fields=["status", "updated_at"])
            set_status(
                locked,
                RolloutStatus.PAUSED,
                actor=DRIVER,
                action="pause",
                reason=f"Wave {wave.number} finished with {success_pct:.0f}% succeeded, below the "
                f"{locked.success_threshold}% needed to advance; paused",
                severity=Severity.ERROR,
            )
            return
        else:
            return
    if wave.status == WaveStatus.SOAKING:
        if now < wave.soak_started_at + datetime.timedelta(minutes=locked.soak_minutes):
            return
        if (
            locked.manual_approval
            and locked.wave_set.filter(number__gt=wave.number, status=WaveStatus.PENDING).exists()
        ):
            wave.status = WaveStatus.AWAITING_APPROVAL
            wave.save(update_fields=["status", "updated_at"])
            record_audit(
                "firmware.rollout.wave_awaiting_approval",
                actor=DRIVER,
                obj=locked,
                changes={"wave": wave.number},
            )
            _wave_event(locked, wave, "rollout.wave_awaiting_approval")
            return
        finish_wave_and_continue(locked, wave, actor=DRIVER)


@transaction.atomic
def advance_rollout(rollout, *, actor=DRIVER, now=None):
    """Evaluate one rollout now (the driver calls this every minute for each active rollout)."""
    now = now or timezone.now()
    locked = (
        Rollout.objects.select_for_update(skip_locked=True)
        .select_related("release", "organization")
        .filter(pk=rollout.pk)
        .first()
    )
    if locked is None:  # another worker is evaluating it right now
        return rollout
    if locked.status == RolloutStatus.SCHEDULED and locked.start_at and locked.start_at <= now:
        set_status(
            locked,
            RolloutStatus.RUNNING,
            actor=actor,
            action="start",
            reason="Scheduled start",
            event_kind="rollout.started",
        )
        start_wave(locked, locked.wave_set.order_by("number").first(), actor=actor)
        return locked
    if locked.status == RolloutStatus.RUNNING:
        _step(locked, now)
    elif locked.status == RolloutStatus.PAUSED:
        expire_updates(locked, now=now)  # deadlines keep running while paused
    return locked


def check_after_failure(rollout_id):
    """Called in a device's report transaction after a failure: apply the threshold at once if
    nobody else is evaluating this rollout (otherwise the driver does it within a minute)."""
    locked = (
        Rollout.objects.select_for_update(skip_locked=True)
        .select_related("release", "organization")
        .filter(pk=rollout_id, status=RolloutStatus.RUNNING)
        .first()
    )
    if locked is not None:
        check_thresholds(locked)


def drive_rollouts(now=None):
    """The every-minute job: advance every scheduled, running or paused rollout."""
    ids = list(
        Rollout.objects.filter(
            status__in=[RolloutStatus.SCHEDULED, RolloutStatus.RUNNING, RolloutStatus.PAUSED]
        ).values_list("pk", flat=True)
    )
    for pk in ids:
        try:
            advance_rollout(Rollout(pk=pk), now=now)
        except Exception:  # one broken rollout must not stop the others
            logger.exception("advancing rollout %s failed", pk)
    return len(ids)
