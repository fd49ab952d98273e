"""What devices tell us: update status reports, and the firmware their heartbeats report.

``report_update_status`` serves ``POST /api/device/v1/update/status``; ``on_ingest`` is the
monitoring ingest listener. Together they implement the reboot-health rule: an update counts as
succeeded only when the device has reported success *and* a heartbeat shows the new version
running healthy, before the health deadline.
"""

import datetime

from django.db import transaction
from django.utils import timezone

from devices.models import Device
from encompass.audit.services import record_audit
from encompass.events.choices import Severity
from encompass.events.services import record_event
from encompass.exceptions import ValidationError

from ..choices import (
    DEVICE_REPORTABLE,
    PROGRESS_ORDER,
    TERMINAL_UPDATE_STATES,
    ReleaseStatus,
    UpdateStatus,
)
from ..models import DeviceUpdate, FirmwareRelease
from .engine import check_after_failure
from .updates import change_update

HEARTBEAT = "device.heartbeat"
UNHEALTHY = {"unhealthy", "degraded", "failed", "error"}


@transaction.atomic
def report_update_status(device, *, update_id, status, reason=""):
    """Record a device's progress on one update. Repeating the current status is a no-op."""
    to = DEVICE_REPORTABLE.get(status)
    if to is None:
        raise ValidationError(
            {"status": f"Unknown status {status!r}; use one of {', '.join(DEVICE_REPORTABLE)}."}
        )
    try:
        update_id = int(update_id)
    except (TypeError, ValueError) as exc:
        raise ValidationError({"update_id": "Give the update_id from the manifest."}) from exc
    reason = (reason or "").strip()
    if to == UpdateStatus.FAILED and not reason:
        raise ValidationError({"reason": "Say why the update failed."})
    update = (
        DeviceUpdate.objects.select_for_update(of=("self",))
        .select_related("rollout", "release", "wave", "device")
        .filter(pk=update_id, device_id=device.pk)
        .first()
    )
    if update is None or update.status == UpdateStatus.PENDING:
        raise ValidationError({"update_id": "No update with this id was offered to this device."})
    current = update.status
    if current == to or (current == UpdateStatus.SUCCEEDED and to == UpdateStatus.REPORTED_SUCCESS):
        return update  # a retried report
    if current in TERMINAL_UPDATE_STATES:
        raise ValidationError(
            {"status": f"This update already finished ({update.get_status_display().lower()})."}
        )
    if to != UpdateStatus.FAILED and PROGRESS_ORDER.index(to) < PROGRESS_ORDER.index(current):
        raise ValidationError(
            {"status": f"Cannot go back from {update.get_status_display().lower()} to {status}."}
        )
    now = timezone.now()
    fields = {"reported_at": now}
    if to == UpdateStatus.REBOOTING:
        fields["rebooted_at"] = now
    if to == UpdateStatus.REPORTED_SUCCESS:
        fields["reported_success_at"] = now
        fields["health_deadline"] = now + datetime.timedelta(
            minutes=update.rollout.health_deadline_minutes
        )
        if update.healthy_at is not None:  # the healthy heartbeat arrived first
            to = UpdateStatus.SUCCEEDED
    change_update(update, to, actor=device, reason=reason, **fields)
    if to == UpdateStatus.FAILED:
        check_after_failure(update.rollout_id)
    return update


def _healthy(payload):
    if payload.get("healthy") is False:
        return False
    return str(payload.get("status", "")).lower() not in UNHEALTHY


def _as_int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def on_ingest(device, events):
    """Ingest listener: follow the firmware a device reports in its heartbeats."""
    latest = None
    for event in events:
        if event.kind == HEARTBEAT and (event.payload or {}).get("firmware_version"):
            latest = event
    if latest is None:
        return
    payload = latest.payload
    record_reported_firmware(
        device,
        version=str(payload["firmware_version"])[:64],
        security_version=_as_int(payload.get("security_version")),
        healthy=_healthy(payload),
    )


@transaction.atomic
def record_reported_firmware(device, *, version, security_version=None, healthy=True):
    """Update the device's firmware fields, raise downgrade / unexpected-firmware signals, and
    confirm (or fail) updates waiting for the reboot-health rule."""
    locked = (
        Device.objects.select_for_update(of=("self",))
        .select_related("organization", "site")
        .get(pk=device.pk)
    )
    now = timezone.now()
    previous_version = locked.firmware_version
    previous_sv = locked.firmware_security_version
    fields = []
    if version != previous_version:
        locked.firmware_version = version
        fields.append("firmware_version")
    downgrade = security_version is not None and security_version < previous_sv
    if security_version is not None and security_version > previous_sv:
        # The stored value is a high-water mark: it never goes down, so a downgraded device is
        # never offered an older image because it claims to run one.
        locked.firmware_security_version = security_version
        fields.append("firmware_security_version")
    if fields:
        locked.save(update_fields=[*fields, "updated_at"])
        device.firmware_version = locked.firmware_version
        device.firmware_security_version = locked.firmware_security_version
        record_audit(
            "firmware.device.reported",
            actor=locked,
            obj=locked,
            changes={
                "firmware_version": [previous_version, locked.firmware_version],
                "firmware_security_version": [previous_sv, locked.firmware_security_version],
            },
        )
        record_event(
            "firmware.version_reported",
            organization=locked.organization,
            device=locked,
            payload={
                "version": version,
                "previous": previous_version,
                "security_version": locked.firmware_security_version,
            },
        )
    if downgrade:
        _signal_downgrade(locked, version, security_version, previous_sv)
    expected = _confirm_updates(locked, version, healthy, now)
    if version != previous_version and not expected:
        _check_expected(locked, version)


def _signal_downgrade(device, version, reported_sv, known_sv):
    from devices.monitoring.choices import AlertSeverity, AlertSource
    from devices.monitoring.services import raise_alert

    record_event(
        "firmware.downgrade_reported",
        organization=device.organization,
        device=device,
        severity=Severity.CRITICAL,
        payload={
            "version": version,
            "reported_security_version": reported_sv,
            "known_security_version": known_sv,
        },
    )
    raise_alert(
        organization=device.organization,
        kind="firmware.downgrade",
        title=f"{device} reports security version {reported_sv}, below {known_sv} it ran before",
        severity=AlertSeverity.CRITICAL,
        dedupe_key=f"firmware.downgrade:{device.pk}",
        device=device,
        details={
            "version": version,
            "reported_security_version": reported_sv,
            "known_security_version": known_sv,
        },
        source=AlertSource.FIRMWARE,
        actor="job:firmware-monitor",
    )


def _confirm_updates(device, version, healthy, now):
    """Apply the heartbeat to updates in flight; True when the version was the expected one."""
    expected = False
    waiting = (
        DeviceUpdate.objects.select_for_update(of=("self",))
        .select_related("rollout", "release", "wave", "device")
        .filter(
            device_id=device.pk,
            status__in=[
                UpdateStatus.INSTALLING,
                UpdateStatus.REBOOTING,
                UpdateStatus.REPORTED_SUCCESS,
            ],
        )
    )
    for update in waiting:
        if update.release.version == version:
            expected = True
            if not healthy or update.healthy_at is not None:
                continue
            if update.status == UpdateStatus.REPORTED_SUCCESS:
                if update.health_deadline and now > update.health_deadline:
                    continue  # too late: the driver times it out
                change_update(update, UpdateStatus.SUCCEEDED, actor=device, healthy_at=now)
            else:
                update.healthy_at = now
                update.rebooted_at = update.rebooted_at or now
                update.save(update_fields=["healthy_at", "rebooted_at", "updated_at"])
        elif update.status == UpdateStatus.REPORTED_SUCCESS and version == update.from_version:
            # Reported success, came back on the old image: the bootloader rolled it back.
            change_update(
                update,
                UpdateStatus.FAILED,
                actor=device,
                reason=f"Reported success but came back on {version} after the reboot "
                f"(expected {update.release.version}).",
            )
            check_after_failure(update.rollout_id)
    return expected


def _check_expected(device, version):
    """A version that matches no release the platform knows for this type is a security signal."""
    from devices.monitoring.choices import AlertSeverity, AlertSource
    from devices.monitoring.services import raise_alert

    known = FirmwareRelease.objects.filter(
        organization_id=device.organization_id,
        device_types=device.device_type_id,
        version=version,
    ).first()
    if known is not None and known.status != ReleaseStatus.REVOKED:
        return
    if not FirmwareRelease.objects.filter(
        organization_id=device.organization_id, device_types=device.device_type_id
    ).exists():
        return  # the organization does not manage this type's firmware here (yet)
    revoked = known is not None
    title = (
        f"{device} runs revoked firmware {version}"
        if revoked
        else f"{device} runs firmware {version}, which is no release known for its type"
    )
    record_event(
        "firmware.unexpected",
        organization=device.organization,
        device=device,
        severity=Severity.WARNING,
        payload={"version": version, "revoked": revoked},
    )
    raise_alert(
        organization=device.organization,
        kind="firmware.unexpected",
        title=title,
        severity=AlertSeverity.HIGH,
        dedupe_key=f"firmware.unexpected:{device.pk}:{version}",
        device=device,
        details={"version": version, "revoked": revoked},
        source=AlertSource.FIRMWARE,
        actor="job:firmware-monitor",
    )
