"""Firmware releases: upload (hash + signature verified), approve (four eyes), deprecate, revoke."""

import hashlib
import os
import re

from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from packaging.version import InvalidVersion, Version

from encompass.audit.services import record_audit, snapshot
from encompass.events.choices import Severity
from encompass.events.services import record_event
from encompass.exceptions import ValidationError
from encompass.tenancy.access import ensure_can_create, ensure_permitted

from .. import conf, signing
from ..choices import (
    ACTIVE_ROLLOUT_STATES,
    RELEASE_TRANSITIONS,
    KeyStatus,
    ReleaseStatus,
)
from ..models import FirmwareRelease, SigningKey
from .common import user_or_none
from .keys import sign_with_platform_key

CHUNK = 1024 * 1024
PAST = {"approve": "approved", "deprecate": "deprecated", "revoke": "revoked"}


def parse_version(text, field="version"):
    text = (text or "").strip()
    if not text:
        raise ValidationError({field: "Give the firmware version."})
    if len(text) > 64:
        raise ValidationError({field: "At most 64 characters."})
    try:
        return text, Version(text)
    except InvalidVersion as exc:
        raise ValidationError(
            {field: f"{text!r} is not a comparable version (use e.g. 2.4.1 or 2.5.0rc1)."}
        ) from exc


def upload_filename(fileobj):
    """The uploaded file's own name, reduced to a safe base name ("" when it has none)."""
    name = os.path.basename(str(getattr(fileobj, "name", "") or "").replace("\\", "/"))
    name = re.sub(r"[^A-Za-z0-9._+-]", "_", name).strip("._")
    return name[:200]


def hash_file(fileobj):
    """(sha256 hex, size) of a file, read in chunks from the start."""
    digest = hashlib.sha256()
    size = 0
    if hasattr(fileobj, "seek"):
        fileobj.seek(0)
    chunks = (
        fileobj.chunks(CHUNK)
        if hasattr(fileobj, "chunks")
        else iter(lambda: fileobj.read(CHUNK), b"")
    )
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    if hasattr(fileobj, "seek"):
        fileobj.seek(0)
    return digest.hexdigest(), size


def _check_device_types(organization, device_types):
    device_types = list(device_types or [])
    if not device_types:
        raise ValidationError({"device_types": "Name at least one device type."})
    for dt in device_types:
        if dt.organization_id != organization.pk:
            raise ValidationError({"device_types": f"{dt} is not in {organization}."})
        if not dt.supports_ota:
            raise ValidationError({"device_types": f"{dt} does not support OTA updates."})
    return device_types


def _check_ordering(organization, device_types, version_text, parsed, security_version):
    """Versions are unique per device type; security versions never go down as versions go up."""
    others = (
        FirmwareRelease.objects.filter(
            organization=organization, device_types__in=[dt.pk for dt in device_types]
        )
        .exclude(status=ReleaseStatus.REVOKED)
        .distinct()
    )
    for other in others:
        other_version = other.parsed_version
        if other_version == parsed:
            raise ValidationError(
                {"version": f"Version {other.version} already exists for these device types."}
            )
        if other_version < parsed and other.security_version > security_version:
            raise ValidationError(
                {
                    "security_version": f"Older release {other.version} has security version "
                    f"{other.security_version}; a newer release cannot have less."
                }
            )
        if other_version > parsed and other.security_version < security_version:
            raise ValidationError(
                {
                    "security_version": f"Newer release {other.version} has security version "
                    f"{other.security_version}; an older release cannot have more."
                }
            )


def _find_verifying_key(organization, signing_key, signature, statement):
    if signing_key is not None:
        signing_key = SigningKey.objects.filter(pk=signing_key.pk).first() or signing_key
        if signing_key.organization_id != organization.pk:
            raise ValidationError({"signing_key": "Unknown signing key."})
        if signing_key.status != KeyStatus.ACTIVE:
            raise ValidationError({"signing_key": "This signing key is revoked."})
        candidates = [signing_key]
    else:
        candidates = list(
            SigningKey.objects.filter(organization=organization, status=KeyStatus.ACTIVE)
        )
        if not candidates:
            raise ValidationError(
                {"signature": "The organization has no active signing key to verify against."}
            )
    for key in candidates:
        if signing.verify(signing.load_public_key(key.public_key), signature, statement):
            return key
    raise ValidationError(
        {
            "signature": "The signature does not verify for this image and metadata with "
            + ("that key." if signing_key else "any active signing key of the organization.")
            + " The image may be altered, or signed with another key or over other metadata."
        }
    )


def _decode_signature(text):
    if not text:
        raise ValidationError({"signature": "An unsigned image is refused: give its signature."})
    try:
        raw = signing.decode_b64(text, what="signature")
    except signing.KeyFormatError as exc:
        raise ValidationError({"signature": str(exc)}) from exc
    if len(raw) != 64:
        raise ValidationError({"signature": f"An Ed25519 signature is 64 bytes, not {len(raw)}."})
    return raw


@transaction.atomic
def upload_release(
    *,
    organization,
    device_types,
    version,
    security_version,
    artifact,
    actor,
    signature=None,
    signing_key=None,
    sign_with_platform=False,
    sha256=None,
    release_notes="",
    cves_fixed=(),
    metadata=None,
):
    """Store a new draft release after verifying its hash and Ed25519 signature.

    ``signature`` is the base64 signature of the release statement (``signing.release_statement``);
    ``sign_with_platform=True`` signs here with ``signing_key`` (a platform-held key) instead.
    Anything that does not verify is refused and nothing is stored.
    """
    ensure_can_create(actor, FirmwareRelease, organization)
    version_text, parsed = parse_version(version)
    try:
        security_version = int(security_version)
    except (TypeError, ValueError) as exc:
        raise ValidationError({"security_version": "A whole number, 0 or more."}) from exc
    if security_version < 0:
        raise ValidationError({"security_version": "A whole number, 0 or more."})
    device_types = _check_device_types(organization, device_types)
    if artifact is None:
        raise ValidationError({"artifact": "Attach the firmware image."})
    limit = int(conf.get("FIRMWARE_MAX_ARTIFACT_BYTES"))
    declared = getattr(artifact, "size", None)
    if declared is not None and declared > limit:
        raise ValidationError({"artifact": f"The image is larger than the {limit}-byte limit."})
    digest, size = hash_file(artifact)
    if size == 0:
        raise ValidationError({"artifact": "The image is empty."})
    if size > limit:
        raise ValidationError({"artifact": f"The image is larger than the {limit}-byte limit."})
    if sha256 and sha256.strip().lower() != digest:
        raise ValidationError(
            {"sha256": f"The image's SHA-256 is {digest}, not the {sha256.strip()} you gave."}
        )
    cves = _clean_cves(cves_fixed)
    _check_ordering(organization, device_types, version_text, parsed, security_version)
    if FirmwareRelease.objects.filter(organization=organization, sha256=digest).exists():
        raise ValidationError({"artifact": "This exact image is already uploaded."})
    statement = signing.release_statement(
        device_types=device_types,
        version=version_text,
        security_version=security_version,
        sha256=digest,
        size=size,
    )
    if sign_with_platform:
        if signing_key is None:
            raise ValidationError({"signing_key": "Choose the platform-held key to sign with."})
        if signing_key.organization_id != organization.pk:
            raise ValidationError({"signing_key": "Unknown signing key."})
        raw_signature = sign_with_platform_key(signing_key, statement, actor=actor)
    else:
        raw_signature = _decode_signature(signature)
    key = _find_verifying_key(organization, signing_key, raw_signature, statement)

    release = FirmwareRelease(
        organization=organization,
        version=version_text,
        security_version=security_version,
        size=size,
        sha256=digest,
        signature=signing.b64(raw_signature),
        signing_key=key,
        release_notes=release_notes or "",
        cves_fixed=cves,
        metadata=metadata or {},
        uploaded_by=user_or_none(actor),
        status_changed_at=timezone.now(),
        filename=upload_filename(artifact),
    )
    name = f"firmware/{organization.pk}/{digest}.bin"
    stored = default_storage.save(name, File(artifact, name=f"{digest}.bin"))
    release.artifact.name = stored
    try:
        release.full_clean(exclude=["artifact", "signing_key"])
        release.save()
    except Exception:
        default_storage.delete(stored)
        raise
    release.device_types.set(device_types)
    record_audit(
        "firmware.firmwarerelease.create",
        actor=actor,
        obj=release,
        changes={"after": snapshot(release), "device_types": [dt.pk for dt in device_types]},
    )
    record_event(
        "firmware.release_uploaded",
        organization=organization,
        payload=release_payload(release),
    )
    return release


def _clean_cves(values):
    if isinstance(values, str):
        values = [v for v in values.replace(",", " ").split() if v]
    cleaned = []
    for value in values or ():
        value = str(value).strip().upper()
        if not value:
            continue
        if len(value) > 40:
            raise ValidationError({"cves_fixed": f"{value[:40]}… is not a vulnerability id."})
        if value not in cleaned:
            cleaned.append(value)
    return cleaned


def release_payload(release):
    return {
        "release": release.pk,
        "version": release.version,
        "security_version": release.security_version,
        "status": release.status,
        "sha256": release.sha256,
    }


def verify_stored_release(release):
    """Re-hash the stored image and re-verify its signature; raise ValidationError if not intact."""
    with default_storage.open(release.artifact.name, "rb") as fh:
        digest, size = hash_file(fh)
    if digest != release.sha256 or size != release.size:
        raise ValidationError(
            {"artifact": "The stored image no longer matches its recorded SHA-256; refusing it."}
        )
    statement = signing.release_statement(
        device_types=release.device_types.all(),
        version=release.version,
        security_version=release.security_version,
        sha256=release.sha256,
        size=release.size,
    )
    key = release.signing_key
    if not signing.verify(
        signing.load_public_key(key.public_key), signing.decode_b64(release.signature), statement
    ):
        raise ValidationError({"signature": "The stored signature no longer verifies."})
    return True


def _move(release, to, *, actor, action, reason="", **fields):
    locked = FirmwareRelease.objects.select_for_update().get(pk=release.pk)
    if (locked.status, to) not in RELEASE_TRANSITIONS:
        raise ValidationError(
            {
                "status": f"A {locked.get_status_display().lower()} release cannot become "
                f"{ReleaseStatus(to).label.lower()}."
            }
        )
    before = snapshot(locked)
    locked.status = to
    locked.status_changed_at = timezone.now()
    locked.status_reason = (reason or "")[:300]
    for name, value in fields.items():
        setattr(locked, name, value)
    locked.save()
    after = snapshot(locked)
    record_audit(
        f"firmware.firmwarerelease.{action}",
        actor=actor,
        obj=locked,
        changes={k: [before.get(k), after.get(k)] for k in after if before.get(k) != after.get(k)},
    )
    record_event(
        f"firmware.release_{PAST[action]}",
        organization=locked.organization,
        severity=Severity.WARNING if to == ReleaseStatus.REVOKED else Severity.INFO,
        payload={**release_payload(locked), "reason": reason},
    )
    return locked


@transaction.atomic
def approve_release(release, *, actor, note=""):
    """A Security officer approves a draft (four eyes: never the uploader)."""
    ensure_permitted(actor, "approve", release)
    if release.uploaded_by_id is not None and release.uploaded_by_id == getattr(actor, "pk", None):
        raise ValidationError(
            {"approved_by": "Four eyes: the uploader cannot approve the release."}
        )
    if not release.signing_key.is_active:
        raise ValidationError({"signing_key": "The key that signed this image has been revoked."})
    verify_stored_release(release)
    return _move(
        release,
        ReleaseStatus.APPROVED,
        actor=actor,
        action="approve",
        reason=note,
        approved_by=user_or_none(actor),
        approved_at=timezone.now(),
        approval_note=note or "",
    )


@transaction.atomic
def deprecate_release(release, *, actor, reason=""):
    """No new rollouts of this release; running ones go on."""
    ensure_permitted(actor, "deprecate", release)
    return _move(release, ReleaseStatus.DEPRECATED, actor=actor, action="deprecate", reason=reason)


@transaction.atomic
def revoke_release(release, *, actor, reason):
    """Withdraw a release for good: never offered again; its active rollouts are aborted."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the release is revoked."})
    ensure_permitted(actor, "revoke", release)
    locked = _move(release, ReleaseStatus.REVOKED, actor=actor, action="revoke", reason=reason)
    from .rollouts import abort_rollout

    for rollout in locked.rollouts.filter(status__in=ACTIVE_ROLLOUT_STATES):
        abort_rollout(
            rollout, actor=actor, reason=f"Release {locked.version} revoked: {reason}", system=True
        )
    return locked
