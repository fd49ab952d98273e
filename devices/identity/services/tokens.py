"""One-time enrollment tokens: created by staff for one device, shown once, stored hashed."""

import datetime
import secrets

from django.db import transaction
from django.utils import timezone

from devices.choices import LifecycleState
from encompass.audit.services import record_audit, snapshot
from encompass.events.services import record_event
from encompass.exceptions import ValidationError
from encompass.tenancy.access import ensure_can_create, ensure_permitted
from encompass.tenancy.models import hash_secret

from ..models import ENROLLMENT_TOKEN_PREFIX, EnrollmentToken
from .common import policy_for, user_or_none

# States in which a device may (re-)enroll: before or while in service, and in quarantine --
# a quarantined device whose certificates were revoked (key compromise, incident containment) is
# released only to the state it came from, whose deploy guard wants a valid certificate, so
# re-keying it in isolation is the only way back. Never once retired.
ENROLLABLE_STATES = frozenset(
    {
        LifecycleState.PROCURED,
        LifecycleState.PROVISIONED,
        LifecycleState.DEPLOYED,
        LifecycleState.MAINTENANCE,
        LifecycleState.QUARANTINED,
    }
)
MAX_TTL = datetime.timedelta(days=90)


def _ttl(ttl, organization):
    if ttl is None:
        return datetime.timedelta(hours=policy_for(organization).enrollment_token_ttl_hours)
    if not isinstance(ttl, datetime.timedelta):
        try:
            ttl = datetime.timedelta(hours=float(ttl))
        except (TypeError, ValueError) as exc:
            raise ValidationError({"ttl_hours": "A number of hours."}) from exc
    if ttl <= datetime.timedelta(0) or ttl > MAX_TTL:
        raise ValidationError({"ttl_hours": "Between a few minutes and 90 days."})
    return ttl


@transaction.atomic
def create_enrollment_token(device, *, actor, ttl=None, note=""):
    """A one-time token for ``device``; returns ``(token, plaintext)``. The plaintext is shown once.

    ``ttl`` is a ``timedelta`` or hours; default from the organization's policy.
    """
    ensure_can_create(actor, EnrollmentToken, device.organization, device.site)
    ensure_permitted(actor, "view", device)
    if device.state not in ENROLLABLE_STATES:
        raise ValidationError(
            {"device": f"A {device.get_state_display().lower()} device cannot enroll."}
        )
    ttl = _ttl(ttl, device.organization)
    prefix = secrets.token_hex(6)
    plaintext = f"{ENROLLMENT_TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    token = EnrollmentToken.objects.create(
        organization=device.organization,
        device=device,
        prefix=prefix,
        token_hash=hash_secret(plaintext),
        expires_at=timezone.now() + ttl,
        created_by=user_or_none(actor),
        note=(note or "")[:200],
    )
    record_audit(
        "identity.enrollmenttoken.create",
        actor=actor,
        obj=token,
        changes={"after": snapshot(token)},
    )
    record_event(
        "identity.enrollment_token_created",
        organization=device.organization,
        device=device,
        payload={"token": token.pk, "prefix": prefix, "expires_at": token.expires_at.isoformat()},
    )
    return token, plaintext


@transaction.atomic
def revoke_enrollment_token(token, *, actor):
    ensure_permitted(actor, "revoke", token)
    locked = EnrollmentToken.objects.select_for_update().get(pk=token.pk)
    if locked.used_at:
        raise ValidationError({"token": "This token was already used; revoke the certificate."})
    if locked.revoked_at:
        raise ValidationError({"token": "This token is already revoked."})
    locked.revoked_at = timezone.now()
    locked.save(update_fields=["revoked_at", "updated_at"])
    record_audit("identity.enrollmenttoken.revoke", actor=actor, obj=locked, changes={})
    return locked


def parse_token(plaintext):
    """The prefix of an ``enr_<prefix>_<secret>`` token, or ``None`` when it is not shaped so."""
    if not isinstance(plaintext, str) or not plaintext.startswith(ENROLLMENT_TOKEN_PREFIX):
        return None
    prefix, sep, secret = plaintext[len(ENROLLMENT_TOKEN_PREFIX) :].partition("_")
    if not sep or len(prefix) != 12 or not secret:
        return None
    return prefix


def find_token(plaintext):
    """The token row ``plaintext`` names (hash checked), or ``None``; not locked, not claimed."""
    prefix = parse_token(plaintext)
    if prefix is None:
        return None
    row = (
        EnrollmentToken.objects.select_related("device__organization", "device__device_type")
        .filter(prefix=prefix)
        .first()
    )
    if row is None or not secrets.compare_digest(row.token_hash, hash_secret(plaintext)):
        return None
    return row
