"""hawkBit DDI onto rollouts: what a DDI client is told, and what its feedback does.

A rollout wave's ``DeviceUpdate`` *is* the DDI action (its id is the actionId). Nothing here
keeps state of its own beyond the cancel acknowledgement: offers come from
``manifests.current_offer`` (waves, start delays, maintenance windows, anti-rollback, lifecycle),
feedback goes through ``reports.report_update_status`` (statuses, thresholds, auto-pause), and
``configData`` is ingested as the device's heartbeat, so the reboot-health rule and the
downgrade / unexpected-firmware signals apply exactly as for the native protocol.

State mapping (DDI feedback -> update status):

=====================================  ==================================================
``proceeding`` / ``resumed`` /          offered -> downloading (later statuses unchanged);
``downloading``                         ``proceeding`` with ``progress.cnt == of > 0``
                                        (every chunk processed) -> installing
``downloaded``                          -> installing
``scheduled``, ``rejected``             the action stays open (audited)
``canceled``                            -> cancelled (not a failure), cancel acknowledged
``closed`` + ``failure``                -> failed (reason: the details), threshold checked
``closed`` + ``success`` / ``none``     -> reported success; confirmed by a heartbeat on the
                                        new version (``configData``) before the deadline
=====================================  ==================================================
"""

import datetime
import hashlib
import json
import uuid

from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from devices.monitoring.ingest import ingest_events
from encompass.audit.services import record_audit
from encompass.events.models import Event
from encompass.exceptions import ValidationError

from .. import conf
from ..choices import TERMINAL_UPDATE_STATES, UpdateStatus
from ..models import DeviceUpdate, FirmwareRelease
from ..services.manifests import current_offer
from ..services.reports import HEARTBEAT, report_update_status
from ..services.updates import change_update

EXECUTIONS = (
    "closed",
    "proceeding",
    "canceled",
    "scheduled",
    "rejected",
    "resumed",
    "downloading",
    "downloaded",
)
FINISHED = ("success", "failure", "none")
# In flight after the download: the device must still be able to close the action.
AWAITING_CLOSE = (UpdateStatus.INSTALLING, UpdateStatus.REBOOTING)
MAX_DETAILS_CHARS = 480
CHUNK = 1024 * 1024


class ActionGone(Exception):
    """Feedback for an action that is already closed differently (hawkBit answers 410)."""


def polling_sleep():
    seconds = max(1, int(conf.get("DDI_POLL_SECONDS")))
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def ensure_hashes(release):
    """Fill in the SHA-1 and MD5 DDI clients check against (read once from the stored image)."""
    if release.sha1 and release.md5:
        return release
    sha1, md5, sha256 = hashlib.sha1(), hashlib.md5(), hashlib.sha256()  # noqa: S324
    with default_storage.open(release.artifact.name, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            sha1.update(chunk)
            md5.update(chunk)
            sha256.update(chunk)
    if sha256.hexdigest() != release.sha256:
        raise ValidationError({"artifact": "The stored image no longer matches its SHA-256."})
    release.sha1, release.md5 = sha1.hexdigest(), md5.hexdigest()
    FirmwareRelease.objects.filter(pk=release.pk).update(sha1=release.sha1, md5=release.md5)
    return release


def artifact_filename(release):
    return release.filename or f"firmware-{release.version}.bin"


def pending_cancel(device):
    """An update this device was offered and that was cancelled since, not yet acknowledged."""
    return (
        DeviceUpdate.objects.filter(
            device_id=device.pk,
            status=UpdateStatus.CANCELLED,
            offered_at__isnull=False,
            cancel_acknowledged_at__isnull=True,
        )
        .order_by("-finished_at", "-pk")
        .first()
    )


@transaction.atomic
def open_action(device, *, now=None):
    """``("cancel", update)``, ``("deployment", update)`` or ``(None, None)`` for a poll.

    A cancellation the device has not confirmed comes first (as in hawkBit); then the offer
    of the running rollouts (``current_offer`` marks it offered); then an update the device
    has installed but not yet closed (it reports after its reboot).
    """
    cancel = pending_cancel(device)
    if cancel is not None:
        return "cancel", cancel
    update = current_offer(device, now=now)
    if update is None:
        update = (
            DeviceUpdate.objects.select_related("rollout", "release", "wave", "device")
            .filter(device_id=device.pk, status__in=AWAITING_CLOSE)
            .order_by("created_at")
            .first()
        )
    if update is None:
        return None, None
    return "deployment", update


def installed_update(device):
    """The device's latest update confirmed (or reported) installed: its installedBase."""
    return (
        DeviceUpdate.objects.select_related("release")
        .filter(
            device_id=device.pk,
            status__in=[UpdateStatus.SUCCEEDED, UpdateStatus.REPORTED_SUCCESS],
        )
        .order_by("-finished_at", "-reported_success_at", "-pk")
        .first()
    )


def maintenance_window(update, now=None):
    """``"available"`` / ``"unavailable"`` when the rollout has a window, else ``None``."""
    rollout = update.rollout
    if rollout.window_start is None or rollout.window_end is None:
        return None
    device = update.device
    tz = device.site.time_zone if device.site_id else "UTC"
    return "available" if rollout.in_window(now or timezone.now(), tz) else "unavailable"


def deployment(update, *, links, now=None, history=False):
    """The ``deploymentBase`` (or ``installedBase``) document of one action.

    ``links(release, filename)`` returns the artifact's ``_links``.
    """
    release = ensure_hashes(update.release)
    window = (
        maintenance_window(update, now) if update.status not in TERMINAL_UPDATE_STATES else None
    )
    filename = artifact_filename(release)
    metadata = [
        {"key": str(k), "value": v if isinstance(v, str) else json.dumps(v, sort_keys=True)}
        for k, v in sorted(release.metadata.items())
    ]
    metadata.append({"key": "security_version", "value": str(release.security_version)})
    body = {
        "id": str(update.pk),
        "deployment": {
            "download": "forced",
            "update": "skip" if window == "unavailable" else "forced",
            "chunks": [
                {
                    "part": "os",
                    "version": release.version,
                    "name": str(update.device.device_type)[:128]
                    if update.device.device_type_id
                    else "firmware",
                    "metadata": metadata,
                    "artifacts": [
                        {
                            "filename": filename,
                            "hashes": {
                                "sha1": release.sha1,
                                "md5": release.md5,
                                "sha256": release.sha256,
                            },
                            "size": release.size,
                            "_links": links(release, filename),
                        }
                    ],
                }
            ],
        },
    }
    if window is not None:
        body["deployment"]["maintenanceWindow"] = window
    if history:
        body["actionHistory"] = {
            "status": update.status,
            "messages": [m for m in [update.failure_reason] if m],
        }
    return body


def _details_text(details):
    text = "; ".join(str(d).strip() for d in details or [] if str(d).strip())
    return text[:MAX_DETAILS_CHARS]


@transaction.atomic
def deployment_feedback(device, update_id, *, execution, finished, details=(), progress=None):
    """Apply one DDI ``deploymentBase/{id}/feedback`` to the update; returns it."""
    update = (
        DeviceUpdate.objects.select_for_update(of=("self",))
        .select_related("rollout", "release", "wave", "device", "device__site")
        .filter(pk=update_id, device_id=device.pk)
        .exclude(status=UpdateStatus.PENDING)
        .first()
    )
    if update is None:
        return None
    text = _details_text(details)
    status = update.status
    if execution == "canceled":
        return _cancelled_by_device(update, text)
    if status in TERMINAL_UPDATE_STATES:
        outcome = _outcome(execution, finished)
        retried = (
            (outcome == "succeeded" and status in (UpdateStatus.SUCCEEDED,))
            or (outcome == "failed" and status == UpdateStatus.FAILED)
            or outcome is None
        )
        if retried:
            return update  # a retry, or progress arriving after the end: harmless
        raise ActionGone(update.get_status_display().lower())
    if execution == "closed":
        if status == UpdateStatus.REPORTED_SUCCESS:
            # Closed already (hawkBit: a closed action takes no more results); only the
            # heartbeat after the reboot decides now.
            if finished == "failure":
                raise ActionGone("closed with success, awaiting the healthy heartbeat")
            return update
        if finished == "failure":
            report_update_status(
                device,
                update_id=update.pk,
                status="failed",
                reason=text or "The device reported failure over hawkBit DDI.",
            )
        elif status == UpdateStatus.OFFERED and maintenance_window(update) == "unavailable":
            pass  # a download-only ("update": "skip") round closed: the install is still due
        else:
            report_update_status(device, update_id=update.pk, status="succeeded")
        return update
    if execution in ("scheduled", "rejected"):
        record_audit(
            f"firmware.ddi.{execution}",
            actor=device,
            obj=update,
            organization=update.organization,
            changes={"details": text} if text else {},
            object_repr=f"{device} → {update.release.version}",
        )
        return update
    target = None
    if execution == "downloaded" or _all_chunks_done(progress):
        target = "installing"
    elif status == UpdateStatus.OFFERED:
        target = "downloading"
    order = [UpdateStatus.OFFERED, UpdateStatus.DOWNLOADING, UpdateStatus.INSTALLING]
    if target is not None and status in order and order.index(status) < order.index(target):
        report_update_status(device, update_id=update.pk, status=target)
    return update


def _all_chunks_done(progress):
    if not isinstance(progress, dict):
        return False
    cnt, of = progress.get("cnt"), progress.get("of")
    return isinstance(cnt, int) and isinstance(of, int) and of > 0 and cnt >= of


def _outcome(execution, finished):
    if execution != "closed":
        return None
    return "failed" if finished == "failure" else "succeeded"


def _cancelled_by_device(update, text):
    now = timezone.now()
    if update.status == UpdateStatus.CANCELLED:
        if update.cancel_acknowledged_at is None:
            update.cancel_acknowledged_at = now
            update.save(update_fields=["cancel_acknowledged_at", "updated_at"])
        return update
    if update.status in TERMINAL_UPDATE_STATES:
        raise ActionGone(update.get_status_display().lower())
    change_update(
        update,
        UpdateStatus.CANCELLED,
        actor=update.device,
        reason=text or "The device canceled the update (hawkBit DDI).",
        cancel_acknowledged_at=now,
    )
    return update


@transaction.atomic
def cancel_feedback(device, update_id, *, execution, finished, details=()):
    """``cancelAction/{id}/feedback``: the device confirms (or rejects) a cancellation."""
    update = (
        DeviceUpdate.objects.select_for_update(of=("self",))
        .select_related("release", "device")
        .filter(pk=update_id, device_id=device.pk, status=UpdateStatus.CANCELLED)
        .first()
    )
    if update is None:
        return None
    text = _details_text(details)
    final = execution in ("closed", "canceled") or execution == "rejected"
    if final and update.cancel_acknowledged_at is None:
        update.cancel_acknowledged_at = timezone.now()
        update.save(update_fields=["cancel_acknowledged_at", "updated_at"])
        record_audit(
            "firmware.ddi.cancel_acknowledged"
            if execution != "rejected" and finished != "failure"
            else "firmware.ddi.cancel_rejected",
            actor=device,
            obj=update,
            organization=update.organization,
            changes={"execution": execution, "finished": finished, "details": text},
            object_repr=f"{device} → {update.release.version}",
        )
    return update


def _security_version(value):
    if value is None or value == "":
        return None
    try:
        number = int(str(value).strip())
    except ValueError as exc:
        raise ValidationError({"data.security_version": "Must be a non-negative integer."}) from exc
    if number < 0:
        raise ValidationError({"data.security_version": "Must be a non-negative integer."})
    return number


def config_data(device, data, *, now=None):
    """``PUT configData``: the device's attributes, ingested as its heartbeat.

    ``firmware_version`` (and ``security_version``) are what the reboot-health rule and the
    anti-rollback signals read; every attribute is kept on the heartbeat event.
    """
    if not isinstance(data, dict) or not data:
        raise ValidationError({"data": "Give the device's attributes as an object."})
    attributes = {}
    for key, value in data.items():
        if not isinstance(key, str) or not 0 < len(key) <= 128:
            raise ValidationError({"data": "Attribute names are 1-128 characters."})
        if not isinstance(value, str | int | float | bool) or len(str(value)) > 512:
            raise ValidationError({f"data.{key}": "Give a text value of at most 512 characters."})
        attributes[key] = str(value)
    payload = {"source": "ddi", "attributes": attributes}
    version = attributes.get("firmware_version", "").strip()
    if version:
        if len(version) > 64:
            raise ValidationError({"data.firmware_version": "At most 64 characters."})
        payload["firmware_version"] = version
    security_version = _security_version(attributes.get("security_version"))
    if security_version is not None:
        payload["security_version"] = security_version
    now = now or timezone.now()
    item = {
        "id": f"ddi-{uuid.uuid4().hex}",
        "kind": "heartbeat",
        "occurred_at": now.isoformat(),
        "payload": payload,
    }
    result = ingest_events(device, [item], now=now)
    answer = result.as_dict()
    rejected = [i for i in answer.get("results", []) if i.get("status") == "rejected"]
    if rejected:
        errors = rejected[0].get("errors") or {"data": "Refused."}
        raise ValidationError({f"data.{k.removeprefix('payload.')}": v for k, v in errors.items()})
    return answer


def wants_config_data(device, kind, *, now=None):
    """Whether the poll asks for ``configData`` (the device's attributes, its DDI heartbeat).

    Asked when an update awaits the healthy heartbeat after its success report, and otherwise
    when no heartbeat came within the device type's heartbeat interval -- never while an action
    is open, because agents (SWUpdate) send the attributes *instead of* working on the action.
    """
    if kind is not None:
        return False
    if DeviceUpdate.objects.filter(
        device_id=device.pk, status=UpdateStatus.REPORTED_SUCCESS
    ).exists():
        return True
    now = now or timezone.now()
    interval = getattr(device.device_type, "heartbeat_interval", None) or 300
    interval = max(int(interval), int(conf.get("DDI_POLL_SECONDS")))
    return not Event.objects.filter(
        device_id=device.pk,
        kind=HEARTBEAT,
        received_at__gte=now - datetime.timedelta(seconds=interval),
    ).exists()


def action_hash(update):
    """A short value that changes when what the client must do changes (hawkBit's ``?c=``)."""
    text = f"{update.pk}:{update.status}:{maintenance_window(update) or ''}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]
