"""Every write of the firmware app (see the modules by subject)."""

from .engine import advance_rollout, drive_rollouts
from .keys import create_platform_signing_key, register_signing_key, revoke_signing_key
from .manifests import issue_manifest
from .releases import (
    approve_release,
    deprecate_release,
    revoke_release,
    upload_release,
)
from .reports import on_ingest, record_reported_firmware, report_update_status
from .rollouts import (
    abort_rollout,
    approve_wave,
    create_rollout,
    delete_rollout,
    pause_rollout,
    pause_rollouts_for_devices,
    remove_device_from_rollouts,
    resume_rollout,
    rollback_rollout,
    start_rollout,
    update_rollout,
)

__all__ = [
    "abort_rollout",
    "advance_rollout",
    "approve_release",
    "approve_wave",
    "create_platform_signing_key",
    "create_rollout",
    "delete_rollout",
    "deprecate_release",
    "drive_rollouts",
    "issue_manifest",
    "on_ingest",
    "pause_rollout",
    "pause_rollouts_for_devices",
    "record_reported_firmware",
    "register_signing_key",
    "remove_device_from_rollouts",
    "report_update_status",
    "resume_rollout",
    "revoke_release",
    "revoke_signing_key",
    "rollback_rollout",
    "start_rollout",
    "update_rollout",
    "upload_release",
]
