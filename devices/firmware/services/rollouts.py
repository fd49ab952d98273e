"""Rollouts: create, start, pause, resume, abort, approve a wave, roll back; and the hooks other
apps call (incident containment, decommissioning)."""

from django.db import transaction
from django.utils import timezone

from devices.choices import LifecycleState
from encompass.audit.services import record_audit, snapshot
from encompass.events.choices import Severity
from encompass.events.services import record_event
from encompass.exceptions import ValidationError
from encompass.tenancy.access import ensure_can_create, ensure_permitted

from ..choices import (
    ACTIVE_ROLLOUT_STATES,
    OFFERABLE_RELEASE_STATES,
    TERMINAL_UPDATE_STATES,
    FailureAction,
    ReleaseStatus,
    RolloutStatus,
    UpdateStatus,
    WaveStatus,
)
from ..models import DeviceUpdate, FirmwareRelease, Rollout
from .common import user_or_none
from .engine import finish_wave_and_continue, start_wave
from .planning import SETTINGS_FIELDS, check_targets, plan_waves, validate_settings
from .progress import counts_by_wave, rollout_payload
from .status import abort_locked, cancel_open_updates, check_move, set_status


def _lock(rollout):
    return (
        Rollout.objects.select_for_update()
        .select_related("release", "organization")
        .get(pk=rollout.pk)
    )


@transaction.atomic
def create_rollout(
    *, organization, release, device_type, name, actor, sites=(), tags=(), devices=(), **settings
):
    """A draft rollout of an approved release to deployed devices of one type."""
    ensure_can_create(actor, Rollout, organization)
    unknown = set(settings) - set(SETTINGS_FIELDS)
    if unknown:
        raise ValidationError({sorted(unknown)[0]: "Unknown rollout setting."})
    name = (name or "").strip() or f"{release.version} to {device_type}"
    settings = validate_settings(dict(settings), release, organization, device_type)
    sites, tags, devices = list(sites), list(tags), list(devices)
    check_targets(organization, sites, tags, devices)
    rollout = Rollout(
        organization=organization,
        release=release,
        device_type=device_type,
        name=name,
        created_by=user_or_none(actor),
        **settings,
    )
    rollout.full_clean()
    rollout.save()
    rollout.sites.set(sites)
    rollout.tags.set(tags)
    rollout.devices.set(devices)
    record_audit(
        "firmware.rollout.create",
        actor=actor,
        obj=rollout,
        changes={
            "after": snapshot(rollout),
            "sites": [s.pk for s in sites],
            "tags": [t.pk for t in tags],
            "devices": [d.pk for d in devices],
        },
    )
    record_event("rollout.created", organization=organization, payload=rollout_payload(rollout))
    return rollout


@transaction.atomic
def update_rollout(rollout, data, *, actor, m2m=None):
    """Change a draft rollout's settings or target."""
    ensure_permitted(actor, "change", rollout)
    locked = _lock(rollout)
    if locked.status != RolloutStatus.DRAFT:
        raise ValidationError({"status": "Only a draft rollout can be changed."})
    if "release" in data or "device_type" in data or "organization" in data:
        field = next(f for f in ("organization", "release", "device_type") if f in data)
        if getattr(locked, f"{field}_id") != getattr(data[field], "pk", None):
            raise ValidationError({field: "Create a new rollout to change this."})
    before = snapshot(locked)
    values = {k: v for k, v in data.items() if k in SETTINGS_FIELDS or k == "name"}
    current = {f: getattr(locked, f) for f in SETTINGS_FIELDS}
    merged = validate_settings(
        {**current, **values}, locked.release, locked.organization, locked.device_type
    )
    for key in values:
        setattr(locked, key, merged.get(key, values[key]))
    locked.full_clean()
    locked.save()
    m2m = m2m or {}
    check_targets(
        locked.organization, m2m.get("sites", ()), m2m.get("tags", ()), m2m.get("devices", ())
    )
    for name, items in m2m.items():
        getattr(locked, name).set(items)
    after = snapshot(locked)
    changes = {k: [before.get(k), after.get(k)] for k in after if before.get(k) != after.get(k)}
    changes.update({name: [i.pk for i in items] for name, items in m2m.items()})
    record_audit("firmware.rollout.update", actor=actor, obj=locked, changes=changes)
    record_event(
        "rollout.updated", organization=locked.organization, payload=rollout_payload(locked)
    )
    return locked


@transaction.atomic
def delete_rollout(rollout, *, actor):
    ensure_permitted(actor, "delete", rollout)
    locked = _lock(rollout)
    if locked.status != RolloutStatus.DRAFT:
        raise ValidationError({"status": "Only a draft rollout can be deleted; abort it instead."})
    record_audit(
        "firmware.rollout.delete", actor=actor, obj=locked, changes={"before": snapshot(locked)}
    )
    pk = locked.pk
    locked.delete()
    return pk


@transaction.atomic
def start_rollout(rollout, *, actor, system=False):
    """Plan the waves (assign every targeted device) and start, or schedule for ``start_at``."""
    if not system:
        ensure_permitted(actor, "start", rollout)
    locked = _lock(rollout)
    check_move(locked, "start")
    release_ok = locked.release.status == ReleaseStatus.APPROVED or (
        locked.rollback_of_id and locked.release.status in OFFERABLE_RELEASE_STATES
    )
    if not release_ok:
        raise ValidationError({"release": "The release is no longer approved."})
    planned = plan_waves(locked)
    now = timezone.now()
    if locked.start_at and locked.start_at > now:
        return set_status(
            locked,
            RolloutStatus.SCHEDULED,
            actor=actor,
            action="schedule",
            reason=f"{planned} devices planned; starts at {locked.start_at.isoformat()}",
        )
    set_status(
        locked,
        RolloutStatus.RUNNING,
        actor=actor,
        action="start",
        reason=f"{planned} devices planned",
        event_kind="rollout.started",
    )
    first = locked.wave_set.order_by("number").first()
    start_wave(locked, first, actor=actor)
    return locked


@transaction.atomic
def pause_rollout(rollout, *, actor, reason, system=False):
    """Stop offering the release (devices mid-update may still finish and report)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the rollout is paused."})
    if not system:
        ensure_permitted(actor, "pause", rollout)
    locked = _lock(rollout)
    check_move(locked, "pause")
    return set_status(
        locked,
        RolloutStatus.PAUSED,
        actor=actor,
        action="pause",
        reason=reason,
        severity=Severity.WARNING,
    )


@transaction.atomic
def resume_rollout(rollout, *, actor, reason, system=False):
    """Go on. Failures so far in a wave that tripped its threshold are accepted (set aside), so
    only new failures count against the threshold again."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the rollout may go on."})
    if not system:
        ensure_permitted(actor, "resume", rollout)
    locked = _lock(rollout)
    check_move(locked, "resume")
    if locked.release.status == ReleaseStatus.REVOKED:
        raise ValidationError({"release": "The release was revoked; this rollout cannot resume."})
    counts = counts_by_wave(locked)
    for wave in locked.wave_set.select_for_update().exclude(
        status__in=[WaveStatus.PENDING, WaveStatus.CANCELLED]
    ):
        failed = counts.get(wave.pk, {}).get("failed", 0)
        fields = []
        if failed != wave.accepted_failures:
            wave.accepted_failures = failed
            fields.append("accepted_failures")
        if wave.status == WaveStatus.FAILED:
            wave.status = WaveStatus.RUNNING
            fields.append("status")
        if fields:
            wave.save(update_fields=[*fields, "updated_at"])
    return set_status(
        locked,
        RolloutStatus.RUNNING,
        actor=actor,
        action="resume",
        reason=reason,
        event_kind="rollout.resumed",
    )


@transaction.atomic
def abort_rollout(rollout, *, actor, reason, system=False):
    """Stop for good: updates not yet started are cancelled; no wave starts again."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the rollout is aborted."})
    if not system:
        ensure_permitted(actor, "abort", rollout)
    locked = _lock(rollout)
    check_move(locked, "abort")
    return abort_locked(locked, reason, actor=actor, severity=Severity.WARNING)


@transaction.atomic
def approve_wave(rollout, *, actor, note=""):
    """Let the next wave start (rollouts with manual approval between waves)."""
    ensure_permitted(actor, "approve_wave", rollout)
    locked = _lock(rollout)
    wave = locked.wave_set.select_for_update().filter(status=WaveStatus.AWAITING_APPROVAL).first()
    if wave is None or locked.status != RolloutStatus.RUNNING:
        raise ValidationError({"wave": "No wave of this rollout is waiting for approval."})
    wave.approved_by = user_or_none(actor)
    wave.save(update_fields=["approved_by", "updated_at"])
    record_audit(
        "firmware.rollout.approve_wave",
        actor=actor,
        obj=locked,
        changes={"wave": wave.number, "note": note},
    )
    finish_wave_and_continue(locked, wave, actor=actor)
    return locked


def previous_release(rollout):
    """The highest offerable release for the rollout's device type older than its release."""
    newer = rollout.release.parsed_version
    candidates = [
        r
        for r in FirmwareRelease.objects.filter(
            organization_id=rollout.organization_id,
            device_types=rollout.device_type_id,
            status__in=OFFERABLE_RELEASE_STATES,
        )
        if r.parsed_version < newer
    ]
    return max(candidates, key=lambda r: r.parsed_version, default=None)


@transaction.atomic
def rollback_rollout(rollout, *, actor, reason, release=None):
    """Offer the previous release to devices that took this one, where security versions allow.

    Returns the new rollback rollout (one wave, started now). Devices whose security version is
    above the target release's are left as they are (anti-rollback) and counted in the audit.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the rollout is rolled back."})
    ensure_permitted(actor, "rollback", rollout)
    locked = _lock(rollout)
    check_move(locked, "rollback")
    target = release or previous_release(locked)
    if target is None:
        raise ValidationError(
            {"release": "There is no earlier approved release for this device type to go back to."}
        )
    if target.organization_id != locked.organization_id or target.pk == locked.release_id:
        raise ValidationError({"release": "Choose an earlier release of the same organization."})
    if target.status not in OFFERABLE_RELEASE_STATES:
        raise ValidationError({"release": "The release to go back to must be approved."})
    took = (
        DeviceUpdate.objects.select_for_update()
        .filter(
            rollout=locked,
            status__in=[
                UpdateStatus.SUCCEEDED,
                UpdateStatus.REPORTED_SUCCESS,
                UpdateStatus.REBOOTING,
            ],
        )
        .select_related("device")
    )
    included, blocked = [], []
    for update in took:
        if update.device.firmware_security_version > target.security_version:
            blocked.append(update)
        elif update.device.state == LifecycleState.DEPLOYED:
            included.append(update)
    if not included:
        raise ValidationError(
            {
                "release": f"None of the devices that took {locked.release.version} can go back to "
                f"{target.version} ({len(blocked)} run a higher security version)."
            }
        )
    cancel_open_updates(locked, f"Rollout rolled back: {reason}")
    now = timezone.now()
    DeviceUpdate.objects.filter(pk__in=[u.pk for u in included]).update(
        status=UpdateStatus.ROLLED_BACK, updated_at=now
    )
    locked.wave_set.filter(status=WaveStatus.PENDING).update(status=WaveStatus.CANCELLED)
    set_status(
        locked,
        RolloutStatus.ROLLED_BACK,
        actor=actor,
        action="rollback",
        reason=f"{reason} — back to {target.version}: {len(included)} devices, "
        f"{len(blocked)} kept (security version)",
        severity=Severity.WARNING,
    )
    # The rollback itself is a rollout (one wave, no window: it is urgent) so it is tracked and
    # confirmed by the same reboot-health rule.
    back = Rollout(
        organization_id=locked.organization_id,
        release=target,
        device_type_id=locked.device_type_id,
        name=f"Rollback of {locked.name}"[:200],
        waves=[{"percent": 100}],
        success_threshold=locked.success_threshold,
        failure_threshold=100,
        failure_action=FailureAction.PAUSE,
        soak_minutes=0,
        manual_approval=False,
        max_start_delay_seconds=min(locked.max_start_delay_seconds, 60),
        health_deadline_minutes=locked.health_deadline_minutes,
        update_timeout_minutes=locked.update_timeout_minutes,
        rollback_of=locked,
        created_by=user_or_none(actor),
    )
    back.save()
    back.devices.set([u.device for u in included])
    record_audit(
        "firmware.rollout.create",
        actor=actor,
        obj=back,
        changes={
            "after": snapshot(back),
            "rollback_of": locked.pk,
            "devices": [u.device_id for u in included],
            "kept_for_security_version": [u.device_id for u in blocked],
        },
    )
    # Anti-rollback also holds for the target: only devices that may run it are planned.
    return start_rollout(back, actor=actor, system=True)


# --- hooks other apps call ---------------------------------------------------------------------


def pause_rollouts_for_devices(devices, *, actor, reason):
    """Incident containment: pause every active rollout that touches any of ``devices``."""
    device_ids = [getattr(d, "pk", d) for d in devices]
    rollouts = Rollout.objects.filter(
        status__in=[RolloutStatus.SCHEDULED, RolloutStatus.RUNNING],
        updates__device_id__in=device_ids,
    ).distinct()
    paused = []
    for rollout in rollouts:
        paused.append(pause_rollout(rollout, actor=actor, reason=reason, system=True))
    return paused


@transaction.atomic
def remove_device_from_rollouts(device, *, actor, reason):
    """Decommissioning: cancel the device's updates that have not finished. Safe to call twice."""
    now = timezone.now()
    open_updates = list(
        DeviceUpdate.objects.select_for_update()
        .filter(device_id=device.pk)
        .exclude(status__in=TERMINAL_UPDATE_STATES)
    )
    for update in open_updates:
        before = update.status
        update.status = UpdateStatus.CANCELLED
        update.finished_at = now
        update.failure_reason = f"Device removed: {reason}"[:500]
        update.save(update_fields=["status", "finished_at", "failure_reason", "updated_at"])
        record_audit(
            "firmware.deviceupdate.cancel",
            actor=actor,
            obj=update,
            changes={"status": [before, UpdateStatus.CANCELLED], "reason": reason},
        )
    return len(open_updates)


__all__ = [
    "ACTIVE_ROLLOUT_STATES",
    "abort_rollout",
    "approve_wave",
    "create_rollout",
    "pause_rollout",
    "pause_rollouts_for_devices",
    "remove_device_from_rollouts",
    "resume_rollout",
    "rollback_rollout",
    "start_rollout",
]
