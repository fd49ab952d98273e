"""Signing keys: register a vendor's public key, create a platform-held key, revoke; and the
per-organization manifest key (generated on first use)."""

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.db import IntegrityError, transaction
from django.utils import timezone

from devices.identity.keystore import get_key_store
from encompass.audit.services import record_audit, snapshot
from encompass.events.services import record_event
from encompass.exceptions import ValidationError
from encompass.tenancy.access import ensure_can_create, ensure_permitted

from .. import signing
from ..choices import KeyCustody, KeyStatus
from ..models import ManifestSigningKey, SigningKey
from .common import user_or_none


def _check_name(organization, name):
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Give the key a name."})
    if SigningKey.objects.filter(organization=organization, name=name).exists():
        raise ValidationError({"name": f"A signing key named {name!r} already exists."})
    return name


def _save_new_key(key, organization, fingerprint):
    if SigningKey.objects.filter(organization=organization, fingerprint=fingerprint).exists():
        raise ValidationError({"public_key": "This public key is already registered."})
    try:
        with transaction.atomic():
            key.save()
    except IntegrityError as exc:
        raise ValidationError({"public_key": "This key or name is already registered."}) from exc


def _created(key, actor):
    record_audit(
        "firmware.signingkey.create", actor=actor, obj=key, changes={"after": snapshot(key)}
    )
    record_event(
        "firmware.key_registered",
        organization=key.organization,
        payload={
            "id": key.pk,
            "name": key.name,
            "fingerprint": key.fingerprint,
            "custody": key.custody,
        },
    )


@transaction.atomic
def register_signing_key(*, organization, name, public_key, actor, description=""):
    """Register a vendor's Ed25519 public key; the vendor keeps the private key."""
    ensure_can_create(actor, SigningKey, organization)
    name = _check_name(organization, name)
    try:
        parsed = signing.load_public_key(public_key)
    except signing.KeyFormatError as exc:
        raise ValidationError({"public_key": str(exc)}) from exc
    fp = signing.fingerprint(parsed)
    key = SigningKey(
        organization=organization,
        name=name,
        custody=KeyCustody.VENDOR,
        public_key=signing.public_pem(parsed),
        fingerprint=fp,
        created_by=user_or_none(actor),
        description=description,
    )
    _save_new_key(key, organization, fp)
    _created(key, actor)
    return key


@transaction.atomic
def create_platform_signing_key(*, organization, name, actor, description=""):
    """Generate a signing key held by the platform (private key in the encrypted key store)."""
    ensure_can_create(actor, SigningKey, organization)
    name = _check_name(organization, name)
    private = Ed25519PrivateKey.generate()
    public = private.public_key()
    fp = signing.fingerprint(public)
    ref = get_key_store().store_private_key(
        private, label=f"firmware:signing:{organization.pk}:{fp}"
    )
    key = SigningKey(
        organization=organization,
        name=name,
        custody=KeyCustody.PLATFORM,
        public_key=signing.public_pem(public),
        fingerprint=fp,
        private_key_ref=ref,
        created_by=user_or_none(actor),
        description=description,
    )
    _save_new_key(key, organization, fp)
    _created(key, actor)
    return key


@transaction.atomic
def revoke_signing_key(key, *, actor, reason):
    """Stop accepting new images signed by ``key``. Releases it already verified stay as they are
    (revoke those releases separately if the key was compromised)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the key is revoked."})
    ensure_permitted(actor, "revoke", key)
    locked = SigningKey.objects.select_for_update().get(pk=key.pk)
    if locked.status == KeyStatus.REVOKED:
        raise ValidationError({"status": "This key is already revoked."})
    locked.status = KeyStatus.REVOKED
    locked.revoked_at = timezone.now()
    locked.revoked_reason = reason[:300]
    locked.save(update_fields=["status", "revoked_at", "revoked_reason", "updated_at"])
    record_audit(
        "firmware.signingkey.revoke",
        actor=actor,
        obj=locked,
        changes={"status": [KeyStatus.ACTIVE, KeyStatus.REVOKED], "reason": reason},
    )
    record_event(
        "firmware.key_revoked",
        organization=locked.organization,
        payload={"id": locked.pk, "name": locked.name, "fingerprint": locked.fingerprint},
    )
    return locked


def sign_with_platform_key(key, message, *, actor):
    """Sign ``message`` with a platform-held key the actor may use."""
    ensure_permitted(actor, "sign", key)
    if key.custody != KeyCustody.PLATFORM or not key.private_key_ref:
        raise ValidationError({"signing_key": "This key is vendor-held; the platform cannot sign."})
    if not key.is_active:
        raise ValidationError({"signing_key": "This key is revoked."})
    private = get_key_store().load_private_key(
        key.private_key_ref, label=f"firmware:signing:{key.organization_id}:{key.fingerprint}"
    )
    return private.sign(message)


# --- the manifest key ---------------------------------------------------------------------------


def manifest_key_for(organization):
    """The organization's manifest signing key, generated (once, race-safe) on first use."""
    existing = ManifestSigningKey.objects.filter(organization=organization).first()
    if existing is not None:
        return existing
    private = Ed25519PrivateKey.generate()
    public = private.public_key()
    fp = signing.fingerprint(public)
    try:
        with transaction.atomic():
            ref = get_key_store().store_private_key(
                private, label=f"firmware:manifest:{organization.pk}:{fp}"
            )
            key = ManifestSigningKey.objects.create(
                organization=organization,
                public_key=signing.public_pem(public),
                fingerprint=fp,
                private_key_ref=ref,
            )
            record_audit(
                "firmware.manifestkey.create",
                actor="platform",
                obj=key,
                changes={"fingerprint": fp},
            )
            return key
    except IntegrityError:  # a concurrent request created it first
        return ManifestSigningKey.objects.get(organization=organization)


def manifest_private_key(key):
    return get_key_store().load_private_key(
        key.private_key_ref, label=f"firmware:manifest:{key.organization_id}:{key.fingerprint}"
    )
