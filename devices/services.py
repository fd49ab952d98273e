"""Writes for devices: registration, the lifecycle, credentials.

``transition_device`` is the only way a device's state changes.
"""

import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from encompass.audit.services import actor_label, record_audit, snapshot, user_or_none
from encompass.events.services import record_event
from encompass.exceptions import NotPermitted, ValidationError
from encompass.tenancy import crud
from encompass.tenancy.access import ensure_can_create, ensure_permitted, roles_in
from encompass.tenancy.models import hash_secret

from .choices import TRANSITION_TABLE, LifecycleState, allowed_targets
from .lifecycle import guards_for, side_effects_for
from .models import Device, LifecycleTransition, Tag

DEVICE_TOKEN_PREFIX = "dtk_"
# Fields no edit may set: the lifecycle, identity and what devices / jobs report.
PROTECTED_FIELDS = frozenset(
    {
        "organization",
        "uid",
        "manufacturer",
        "state",
        "quarantined_from",
        "state_changed_at",
        "last_seen_at",
        "health",
        "token_prefix",
        "token_hash",
        "token_rotated_at",
    }
)


def _state_label(value):
    return LifecycleState(value).label


def next_states(device):
    """The states the table lets ``device`` move to next (a quarantined one: back or onwards)."""
    targets = allowed_targets(device.state)
    if device.state == LifecycleState.QUARANTINED and device.quarantined_from:
        targets = [
            t for t in targets if t in (device.quarantined_from, LifecycleState.DECOMMISSIONING)
        ]
    return targets


def available_transitions(device, actor):
    """What ``actor`` could do with ``device`` now: ``[{to, label, permitted, blocked_by}]``.

    ``permitted`` says whether the actor's role allows the move; ``blocked_by`` lists the guards'
    messages (what must be done first). For the UI's "next actions"; the service decides.
    """
    held = _actor_roles(actor, device) or set()
    options = []
    for target in next_states(device):
        rule = TRANSITION_TABLE[(device.state, target)]
        options.append(
            {
                "to": target,
                "label": _state_label(target),
                "description": rule.description,
                "permitted": bool(held & rule.roles),
                "blocked_by": [msg for guard in guards_for(target) if (msg := guard(device, rule))],
            }
        )
    return options


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
        Device.objects.select_for_update(of=("self",))
        .select_related("device_type", "site")
        .get(pk=device.pk)
    )
    source = locked.state
    rule = TRANSITION_TABLE.get((source, to))
    if rule is None:
        options = ", ".join(_state_label(t) for t in next_states(locked)) or "none"
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
        actor=user_or_none(actor),
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
    """Register a newly procured device (state procured; the uid is generated)."""
    ensure_can_create(actor, Device, organization, site)
    tags = list(tags)
    _check_tags(organization, tags)
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


def _check_tags(organization, tags):
    foreign = [t.name for t in tags if t.organization_id != organization.pk]
    if foreign:
        raise ValidationError({"tags": f"Not tags of {organization}: {', '.join(foreign)}."})


@transaction.atomic
def update_device(device, data, *, actor, tags=None):
    """Edit a device's descriptive fields; moving it to another site needs the move permission.

    ``state`` and the generated fields are not editable here (``transition_device`` owns state).
    """
    forbidden = sorted(set(data) & PROTECTED_FIELDS)
    if forbidden:
        raise ValidationError(
            {name: "Set by the platform; it cannot be edited." for name in forbidden}
        )
    if "site" in data and getattr(data["site"], "pk", None) != device.site_id:
        ensure_permitted(actor, "move", device)
        if data["site"] is not None:
            ensure_can_move_to(actor, device, data["site"])
    if tags is not None:
        _check_tags(device.organization, tags)
    return crud.update_object(
        device, data, actor=actor, m2m={"tags": tags} if tags is not None else None
    )


def ensure_can_move_to(actor, device, site):
    """The target site must be in the device's organization and within the actor's reach."""
    if site.organization_id != device.organization_id:
        raise ValidationError({"site": "Must belong to the same organization."})
    if not roles_in(actor, device.organization, site) & set(Device.role_permissions["move"]):
        raise NotPermitted(f"You may not move devices to {site}.")


@transaction.atomic
def move_device(device, site, *, actor, reason=""):
    """Move a device to ``site`` (its installation moves with it)."""
    ensure_permitted(actor, "move", device)
    ensure_can_move_to(actor, device, site)
    locked = Device.objects.select_for_update(of=("self",)).select_related("site").get(pk=device.pk)
    if locked.site_id == site.pk:
        return locked
    previous = locked.site
    locked.site = site
    locked.save(update_fields=["site", "updated_at"])
    record_audit(
        "devices.device.move",
        actor=actor,
        obj=locked,
        changes={
            "site": [previous.slug if previous else None, site.slug],
            "reason": (reason or "").strip(),
        },
    )
    record_event(
        "device.moved",
        organization=locked.organization,
        device=locked,
        payload={"from": previous.pk if previous else None, "to": site.pk, "reason": reason},
    )
    device.site = site
    return locked


@transaction.atomic
def delete_device(device, *, actor):
    """Delete a mistaken registration: only a procured device the platform has never heard from.

    Everything else is decommissioned, never deleted, so no history is lost.
    """
    ensure_permitted(actor, "delete", device)
    locked = Device.objects.select_for_update().get(pk=device.pk)
    if locked.state != LifecycleState.PROCURED or locked.last_seen_at is not None:
        raise ValidationError(
            {
                "detail": "Only a procured device that was never seen may be deleted (a mistaken "
                f"registration). This one is {locked.get_state_display().lower()}"
                f"{' and has been seen' if locked.last_seen_at else ''}: decommission it instead."
            }
        )
    if locked.transitions.exists():
        raise ValidationError(
            {"detail": "This device has a lifecycle history; decommission it instead."}
        )
    return crud.delete_object(locked, actor=actor)


# --- bulk operations: each device through the single service, one outcome per device -------------


@dataclass
class BulkOutcome:
    """What happened to one device of a bulk operation."""

    device: Device
    ok: bool
    error: str = ""

    def as_dict(self):
        return {
            "id": self.device.pk,
            "uid": self.device.uid,
            "name": self.device.name,
            "ok": self.ok,
            "state": self.device.state,
            "site": self.device.site_id,
            "error": self.error,
        }


def _error_text(exc):
    if isinstance(exc, ValidationError):
        return "; ".join(exc.messages)
    return str(exc)


def _each(devices, func):
    outcomes = []
    for device in devices:
        try:
            func(device)
            outcomes.append(BulkOutcome(device, True))
        except (ValidationError, NotPermitted) as exc:
            outcomes.append(BulkOutcome(device, False, _error_text(exc)))
    return outcomes


def bulk_transition(devices, to, *, actor, reason):
    """Move each device to ``to`` through ``transition_device``, each in its own transaction.

    Per item by design: a refusal for one device (wrong state, a guard, the actor's role) is
    reported for that device and the others go ahead. Returns ``[BulkOutcome]`` in input order.
    """
    if not (reason or "").strip():
        raise ValidationError({"reason": "Say why the devices change state."})
    return _each(devices, lambda d: transition_device(d, to, actor=actor, reason=reason))


def bulk_move(devices, site, *, actor, reason=""):
    """Move each device to ``site`` through ``move_device``; per item, like ``bulk_transition``."""
    return _each(devices, lambda d: move_device(d, site, actor=actor, reason=reason))


@transaction.atomic
def create_tag(organization, name, *, actor):
    """The organization's tag called ``name``, created (audited) when it does not exist yet."""
    existing = Tag.objects.filter(organization=organization, name=name).first()
    if existing is not None:
        return existing
    return crud.create_object(Tag, {"organization": organization, "name": name}, actor=actor)


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


def device_named_by_token(token):
    """The device whose token prefix ``token`` carries (verified or not): for audit entries."""
    if not token or not token.startswith(DEVICE_TOKEN_PREFIX):
        return None
    prefix = token[len(DEVICE_TOKEN_PREFIX) :].partition("_")[0]
    if len(prefix) != 8:
        return None
    return Device.objects.select_related("organization", "site").filter(token_prefix=prefix).first()


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
    "BulkOutcome",
    "available_transitions",
    "bulk_move",
    "bulk_transition",
    "clear_device_token",
    "create_tag",
    "delete_device",
    "device_for_token",
    "device_named_by_token",
    "move_device",
    "next_states",
    "register_device",
    "rotate_device_token",
    "settings",
    "transition_device",
    "update_device",
]
