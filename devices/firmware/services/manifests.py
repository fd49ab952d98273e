"""Signed, expiring update manifests: what a device is offered at ``GET /api/device/v1/update``.

The manifest is compact canonical JSON (keys sorted); the response carries its exact bytes
(base64) and the Ed25519 signature over them by the organization's manifest key. A manifest is
always signed, also when there is nothing to install, so a device can tell a fresh "no update"
from a replayed old answer (freeze attack). See docs/updates.md for the fields and how to verify.
"""

import datetime
import secrets

from django.db import transaction
from django.utils import timezone

from devices.choices import LifecycleState

from .. import conf, signing
from ..choices import OFFERABLE_RELEASE_STATES, RolloutStatus, UpdateStatus, WaveStatus
from ..models import DeviceUpdate
from .keys import manifest_key_for, manifest_private_key
from .updates import change_update

OFFERABLE_WAVES = (WaveStatus.RUNNING, WaveStatus.SOAKING, WaveStatus.AWAITING_APPROVAL)
OFFER_STATES = (
    UpdateStatus.PENDING,
    UpdateStatus.OFFERED,
    UpdateStatus.DOWNLOADING,
    UpdateStatus.INSTALLING,
)
MAX_NONCE = 64


@transaction.atomic
def current_offer(device, *, now=None):
    """The DeviceUpdate to offer ``device`` now (locked and marked offered), or ``None``."""
    now = now or timezone.now()
    if device.state != LifecycleState.DEPLOYED:
        return None  # quarantined, in maintenance, retiring ... devices are never offered updates
    candidates = (
        DeviceUpdate.objects.select_for_update(of=("self",))
        .select_related("rollout", "release", "wave", "device", "device__site")
        .filter(
            device_id=device.pk,
            status__in=OFFER_STATES,
            rollout__status=RolloutStatus.RUNNING,
            wave__status__in=OFFERABLE_WAVES,
            release__status__in=OFFERABLE_RELEASE_STATES,
        )
        .order_by("created_at")
    )
    for update in candidates:
        if update.status == UpdateStatus.PENDING and (
            update.not_before is None or update.not_before > now
        ):
            continue
        tz = device.site.time_zone if device.site_id else "UTC"
        if update.status == UpdateStatus.PENDING and not update.rollout.in_window(now, tz):
            continue
        if update.release.security_version < device.firmware_security_version:
            change_update(
                update,
                UpdateStatus.CANCELLED,
                actor="platform:anti-rollback",
                reason=f"Device runs security version {device.firmware_security_version}, above "
                f"the release's {update.release.security_version}: never offered.",
            )
            continue
        if update.status == UpdateStatus.PENDING:
            change_update(update, UpdateStatus.OFFERED, actor=device, offered_at=now)
        return update
    return None


@transaction.atomic
def issue_manifest(device, *, artifact_url, nonce=None, now=None):
    """Build and sign the manifest for ``device``; ``artifact_url(release)`` makes the URL."""
    now = now or timezone.now()
    if nonce is not None:
        nonce = str(nonce)
        if not nonce or len(nonce) > MAX_NONCE or not nonce.isascii() or not nonce.isprintable():
            from encompass.exceptions import ValidationError

            raise ValidationError({"nonce": f"Up to {MAX_NONCE} printable ASCII characters."})
    ttl = int(conf.get("FIRMWARE_MANIFEST_TTL_SECONDS"))
    key = manifest_key_for(device.organization)
    payload = {
        "format": signing.MANIFEST_FORMAT,
        "device": device.uid,
        "issued_at": now.isoformat(),
        "expires_at": (now + datetime.timedelta(seconds=ttl)).isoformat(),
        "nonce": nonce or secrets.token_urlsafe(16),
        "key_id": key.fingerprint,
        "update": False,
    }
    update = current_offer(device, now=now)
    if update is not None:
        release = update.release
        payload.update(
            {
                "update": True,
                "update_id": update.pk,
                "rollout": update.rollout_id,
                "release": release.pk,
                "version": release.version,
                "security_version": release.security_version,
                "sha256": release.sha256,
                "size": release.size,
                "url": artifact_url(release),
                "metadata": release.metadata,
            }
        )
    body = signing.canonical_json(payload)
    signature = manifest_private_key(key).sign(body)
    return {
        "manifest": signing.b64(body),
        "signature": signing.b64(signature),
        "algorithm": "Ed25519",
        "key_id": key.fingerprint,
        "payload": payload,
    }
