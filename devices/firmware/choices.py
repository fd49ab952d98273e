"""Firmware and rollout state machines, on one screen: values, labels, colours, transitions."""

from django.db import models

from encompass.tenancy.roles import Role

SECURITY_ROLES = frozenset({Role.ADMIN, Role.SECURITY_OFFICER})
FLEET_ROLES = frozenset({Role.ADMIN, Role.OPERATOR})
STAFF_WRITERS = frozenset({Role.ADMIN, Role.SECURITY_OFFICER, Role.OPERATOR})


class KeyStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    REVOKED = "revoked", "Revoked"


class KeyCustody(models.TextChoices):
    VENDOR = "vendor", "Vendor-held (public key only)"
    PLATFORM = "platform", "Platform-held (private key encrypted at rest)"


class ReleaseStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    APPROVED = "approved", "Approved"
    DEPRECATED = "deprecated", "Deprecated"
    REVOKED = "revoked", "Revoked"


RELEASE_COLOURS = {
    ReleaseStatus.DRAFT: "#6e7781",
    ReleaseStatus.APPROVED: "#1a7f37",
    ReleaseStatus.DEPRECATED: "#9a6700",
    ReleaseStatus.REVOKED: "#cf222e",
}
# (from, to) pairs a release may move along; revocation is final.
RELEASE_TRANSITIONS = {
    (ReleaseStatus.DRAFT, ReleaseStatus.APPROVED),
    (ReleaseStatus.DRAFT, ReleaseStatus.REVOKED),
    (ReleaseStatus.APPROVED, ReleaseStatus.DEPRECATED),
    (ReleaseStatus.APPROVED, ReleaseStatus.REVOKED),
    (ReleaseStatus.DEPRECATED, ReleaseStatus.APPROVED),
    (ReleaseStatus.DEPRECATED, ReleaseStatus.REVOKED),
}
# Releases a device may be offered or may download.
OFFERABLE_RELEASE_STATES = frozenset({ReleaseStatus.APPROVED, ReleaseStatus.DEPRECATED})


class RolloutStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    ABORTED = "aborted", "Aborted"
    ROLLED_BACK = "rolled_back", "Rolled back"


ROLLOUT_COLOURS = {
    RolloutStatus.DRAFT: "#6e7781",
    RolloutStatus.SCHEDULED: "#0969da",
    RolloutStatus.RUNNING: "#1f6feb",
    RolloutStatus.PAUSED: "#9a6700",
    RolloutStatus.COMPLETED: "#1a7f37",
    RolloutStatus.ABORTED: "#cf222e",
    RolloutStatus.ROLLED_BACK: "#8250df",
}
R = RolloutStatus
ROLLOUT_TRANSITIONS = {
    "start": ({R.DRAFT}, None),  # to scheduled or running, by start_at
    "pause": ({R.SCHEDULED, R.RUNNING}, R.PAUSED),
    "resume": ({R.PAUSED}, R.RUNNING),
    "abort": ({R.DRAFT, R.SCHEDULED, R.RUNNING, R.PAUSED}, R.ABORTED),
    "rollback": ({R.RUNNING, R.PAUSED, R.ABORTED, R.COMPLETED}, R.ROLLED_BACK),
}
ACTIVE_ROLLOUT_STATES = frozenset({R.SCHEDULED, R.RUNNING, R.PAUSED})


class FailureAction(models.TextChoices):
    PAUSE = "pause", "Pause the rollout"
    ABORT = "abort", "Abort the rollout"


class WaveStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SOAKING = "soaking", "Soaking"
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


OPEN_WAVE_STATES = frozenset(
    {WaveStatus.RUNNING, WaveStatus.SOAKING, WaveStatus.AWAITING_APPROVAL, WaveStatus.FAILED}
)


class UpdateStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    OFFERED = "offered", "Offered"
    DOWNLOADING = "downloading", "Downloading"
    INSTALLING = "installing", "Installing"
    REBOOTING = "rebooting", "Rebooting"
    REPORTED_SUCCESS = "reported_success", "Reported success (awaiting healthy heartbeat)"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    TIMED_OUT = "timed_out", "Timed out"
    CANCELLED = "cancelled", "Cancelled"
    ROLLED_BACK = "rolled_back", "Rolled back"


U = UpdateStatus
UPDATE_COLOURS = {
    U.PENDING: "#6e7781",
    U.OFFERED: "#0969da",
    U.DOWNLOADING: "#0969da",
    U.INSTALLING: "#1f6feb",
    U.REBOOTING: "#8250df",
    U.REPORTED_SUCCESS: "#9a6700",
    U.SUCCEEDED: "#1a7f37",
    U.FAILED: "#cf222e",
    U.TIMED_OUT: "#bc4c00",
    U.CANCELLED: "#57606a",
    U.ROLLED_BACK: "#8250df",
}
# Progress order of the statuses a device walks through; a report may skip ahead, never go back.
PROGRESS_ORDER = [U.OFFERED, U.DOWNLOADING, U.INSTALLING, U.REBOOTING, U.REPORTED_SUCCESS]
IN_FLIGHT = frozenset({U.OFFERED, U.DOWNLOADING, U.INSTALLING, U.REBOOTING, U.REPORTED_SUCCESS})
FAILED_STATES = frozenset({U.FAILED, U.TIMED_OUT})
TERMINAL_UPDATE_STATES = frozenset({U.SUCCEEDED, U.FAILED, U.TIMED_OUT, U.CANCELLED, U.ROLLED_BACK})
# What a device may post to /api/device/v1/update/status.
DEVICE_REPORTABLE = {
    "downloading": U.DOWNLOADING,
    "installing": U.INSTALLING,
    "rebooting": U.REBOOTING,
    "succeeded": U.REPORTED_SUCCESS,
    "failed": U.FAILED,
}
