"""One device's update changing status: the single writer of ``DeviceUpdate.status``."""

from django.utils import timezone

from encompass.audit.services import record_audit
from encompass.events.choices import Severity
from encompass.events.services import record_event

from ..choices import FAILED_STATES, UpdateStatus
from .progress import counts_by_wave


def change_update(locked, to, *, actor, reason="", **fields):
    """Move a (locked) DeviceUpdate to ``to``; audit it and publish ``rollout.device_update``.

    The caller holds ``select_for_update`` on the row, so concurrent reports for the same device
    serialize here and counts (computed from rows) stay exact.
    """
    before = locked.status
    now = timezone.now()
    locked.status = to
    for name, value in fields.items():
        setattr(locked, name, value)
    if to in FAILED_STATES or to == UpdateStatus.SUCCEEDED or to == UpdateStatus.CANCELLED:
        locked.finished_at = now
    if reason and to in FAILED_STATES | {UpdateStatus.CANCELLED}:
        locked.failure_reason = reason[:500]
    locked.save()
    record_audit(
        "firmware.deviceupdate.status",
        actor=actor,
        obj=locked,
        organization=locked.organization,
        changes={"status": [before, to], **({"reason": reason} if reason else {})},
        object_repr=f"{locked.device} → {locked.release.version}",
    )
    wave_counts = counts_by_wave(locked.rollout).get(locked.wave_id, {})
    record_event(
        "rollout.device_update",
        organization=locked.organization,
        device=locked.device,
        severity=Severity.WARNING if to in FAILED_STATES else Severity.INFO,
        payload={
            "rollout": locked.rollout_id,
            "wave": locked.wave.number,
            "update": locked.pk,
            "device": locked.device.uid,
            "device_name": locked.device.name,
            "status": to,
            "previous": before,
            "reason": reason,
            "version": locked.release.version,
            "wave_counts": {k: v for k, v in wave_counts.items() if k != "by_status"},
        },
    )
    return locked
