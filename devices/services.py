"""Writes for devices: registration, the lifecycle, credentials.

``transition_device`` is the only way a device's state changes.
"""

import secrets

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from encompass.audit.services import actor_label, record_audit, snapshot
from encompass.events.services import record_event
from encompass.exceptions import NotPermitted, ValidationError
from encompass.tenancy.access import ensure_can_create, ensure_permitted, roles_in
from encompass.tenancy.models import hash_secret

from .choices import TRANSITION_TABLE, LifecycleState, allowed_targets
from .lifecycle import guards_for, side_effects_for
from .models import Device, LifecycleTransition

DEVICE_TOKEN_PREFIX = "dtk_"


def _state_label(value):
    return LifecycleState(value).label


def _user_or_none(actor):
    return actor if getattr(actor, "_meta", None) and actor._meta.label == "auth.User" else None


def _actor_roles(actor, device):
    """Roles the actor holds for this device; system jobs (actor None) act with every role."""
    if actor is None or isinstance(actor, str):
        return None
    return roles_in(actor, device.organization, device.site)


@transaction.atomic
def transition_device(device, to, *, actor, reason, system=False):
    """Move ``device`` to state ``to``: lock, check table, role and guards, record, audit, publish.

    ``actor`` is the user (or API-key user) acting; ``system=True`` marks a platform job acting on
    its own authority (the actor is then a label such as ``"job:incident-containment"``).
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the device changes state."})
    if to not in LifecycleState.values:
        raise ValidationError({"to": f"Unknown state {to!r}."})
    if not system:
        ensure_permitted(actor, "view", device)
    locked = (
        Device.objects.select_for_update().select_related("device_type", "site").get(pk=device.pk)
    )
    source = locked.state
    rule = TRANSITION_TABLE.get((source, to))
    if rule is None:
        options = ", ".join(_state_label(t) for t in allowed_targets(source)) or "none"
        raise ValidationError(
            {
                "to": f"A {_state_label(source).lower()} device cannot become "
                f"{_state_label(to).lower()}. Allowed next states: {options}."
            }
        )
    if not system:
        held = _actor_roles(actor, locked)
        if not held & rule.roles:
            raise NotPermitted(
                f"Your role may not move a device from {_state_label(source)} to "
                f"{_state_label(to)}."
            )
    problems = [msg for guard in guards_for(to) if (msg := guard(locked, rule))]
    if problems:
        raise ValidationError({"to": problems})
    locked.state = to
    locked.state_changed_at = timezone.now()
    if to == LifecycleState.QUARANTINED:
        locked.quarantined_from = source
    elif source == LifecycleState.QUARANTINED:
        locked.quarantined_from = ""
    locked.save(update_fields=["state", "state_changed_at", "quarantined_from", "updated_at"])
    record = LifecycleTransition.objects.create(
        organization=locked.organization,
        device=locked,
        from_state=source,
        to_state=to,
        actor=_user_or_none(actor),
        actor_label=actor_label(actor),
        reason=reason,
    )
    for effect in side_effects_for(to):
        effect(locked, rule, actor=actor, reason=reason)
    record_audit(
        "devices.device.transition",
        actor=actor,
        obj=locked,
        changes={"state": [source, to], "reason": reason},
    )
    record_event(
        "device.lifecycle",
        organization=locked.organization,
        device=locked,
        payload={
            "from": source,
            "to": to,
            "reason": reason,
            "actor": actor_label(actor),
            "transition": record.pk,
        },
    )
    device.state = locked.state
    device.quarantined_from = locked.quarantined_from
    device.state_changed_at = locked.state_changed_at
    return locked


@transaction.atomic
def register_device(
    *, actor, organization, device_type, serial_number, name, site=None, tags=(), **fields
):
    """Register a newly procured device."""
    ensure_can_create(actor, Device, organization, site)
    device = Device(
        organization=organization,
        device_type=device_type,
        serial_number=serial_number,
        name=name,
        site=site,
        **fields,
    )
    device.full_clean()
    device.save()
    if tags:
        device.tags.set(tags)
    record_audit(
        "devices.device.create", actor=actor, obj=device, changes={"after": snapshot(device)}
    )
    record_event(
        "device.registered",
        organization=organization,
        device=device,
        payload={"name": device.name, "serial_number": device.serial_number},
    )
    return device


def _new_token():
    prefix = secrets.token_hex(4)
    return prefix, f"{DEVICE_TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"


@transaction.atomic
def rotate_device_token(device, *, actor):
    """Issue a new per-device token (the old one stops working); returns the plaintext once."""
    ensure_permitted(actor, "credentials", device)
    locked = Device.objects.select_for_update().get(pk=device.pk)
    prefix, token = _new_token()
    locked.token_prefix = prefix
    locked.token_hash = hash_secret(token)
    locked.token_rotated_at = timezone.now()
    locked.save(update_fields=["token_prefix", "token_hash", "token_rotated_at", "updated_at"])
    record_audit(
        "devices.device.token_rotated", actor=actor, obj=locked, changes={"token_prefix": prefix}
    )
    return locked, token


@transaction.atomic
def clear_device_token(device, *, actor, reason):
    """Remove a device's token (decommissioning, containment)."""
    locked = Device.objects.select_for_update().get(pk=device.pk)
    if not locked.token_hash:
        return locked
    locked.token_prefix = ""
    locked.token_hash = ""
    locked.save(update_fields=["token_prefix", "token_hash", "updated_at"])
    record_audit(
        "devices.device.token_revoked", actor=actor, obj=locked, changes={"reason": reason}
    )
    return locked


def device_for_token(token):
    """The device a per-device token belongs to, or ``None``."""
    if not token or not token.startswith(DEVICE_TOKEN_PREFIX):
        return None
    prefix = token[len(DEVICE_TOKEN_PREFIX) :].partition("_")[0]
    if len(prefix) != 8:
        return None
    device = (
        Device.objects.select_related("organization", "site", "device_type")
        .filter(token_prefix=prefix)
        .first()
    )
    if device is None or not secrets.compare_digest(device.token_hash, hash_secret(token)):
        return None
    return device


__all__ = [
    "clear_device_token",
    "device_for_token",
    "register_device",
    "rotate_device_token",
    "settings",
    "transition_device",
]
