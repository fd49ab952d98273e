"""Containment on the fleet, from an incident, through the device and tenancy services.

Each action is a ``ContainmentAction`` row and a timeline entry, audited and published. The work
itself is done by the owning service (``transition_device``, ``revoke_device_certificates``,
``pause_rollouts_for_devices``, ``set_api_key_suspended``), which applies its own permission
checks with the acting user -- the incident grants nothing on the fleet by itself.

Reversible: quarantine (release to the state the device came from), paused rollouts (resume),
suspended API keys (resume). Not reversible: certificate revocation -- re-enrol the device.
"""

from django.db import transaction
from django.utils import timezone

from devices.choices import LifecycleState
from devices.firmware.models import Rollout
from devices.firmware.services import pause_rollouts_for_devices, resume_rollout
from devices.identity.services import revoke_device_certificates
from devices.models import Device
from devices.services import transition_device
from encompass.audit.services import record_audit
from encompass.exceptions import ValidationError
from encompass.tenancy.models import ApiKey
from encompass.tenancy.services import set_api_key_suspended

from ..choices import ContainmentKind, Phase, TimelineKind
from ..models import ContainmentAction
from .common import add_timeline, ensure_incident_permitted, lock_incident, publish, user_or_none


def _reason(incident, reason):
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(
            {"reason": "Say why (it is recorded on the device and the timeline)."}
        )
    return f"Incident {incident.reference}: {reason}"


def _prepare(incident, actor, reason):
    ensure_incident_permitted(actor, "contain", incident)
    locked = lock_incident(incident)
    if locked.phase == Phase.CLOSED:
        raise ValidationError({"incident": "The incident is closed; reopen it to act again."})
    return locked, _reason(locked, reason)


def _devices_of(incident, devices):
    devices = list(devices)
    if not devices:
        raise ValidationError({"devices": "Choose at least one device."})
    for device in devices:
        if device.organization_id != incident.organization_id:
            raise ValidationError({"devices": f"{device} is not in this incident's organization."})
    return devices


def _record(
    incident, kind, *, actor, reason, text, device=None, api_key=None, target, details=None
):
    action = ContainmentAction.objects.create(
        organization_id=incident.organization_id,
        incident=incident,
        kind=kind,
        device=device,
        api_key=api_key,
        target_repr=str(target)[:300],
        details=details or {},
        reason=reason,
        performed_by=user_or_none(actor),
        performed_at=timezone.now(),
    )
    add_timeline(
        incident,
        TimelineKind.CONTAINMENT,
        text,
        actor=actor,
        data={"action": action.pk, "kind": kind, "target": action.target_repr, **(details or {})},
    )
    record_audit(
        f"incidents.containment.{kind}",
        actor=actor,
        obj=incident,
        changes={"action": action.pk, "target": action.target_repr, "reason": reason},
    )
    publish(
        "incident.containment_action",
        incident,
        action=action.pk,
        kind=kind,
        target=action.target_repr,
    )
    return action


def _affect(incident, devices):
    incident.affected_devices.add(*devices)
    incident.affected_sites.add(*{d.site_id for d in devices if d.site_id})


def _each_device(incident, devices, kind, *, actor, reason, act):
    """Run ``act(device, full_reason) -> (text, details)`` per device and record each action."""
    locked, full_reason = _prepare(incident, actor, reason)
    devices = _devices_of(locked, devices)
    actions = []
    for device in devices:
        text, details = act(device, full_reason)
        actions.append(
            _record(
                locked,
                kind,
                actor=actor,
                reason=full_reason,
                text=text,
                device=device,
                target=device,
                details={"device": device.uid, **details},
            )
        )
    _affect(locked, devices)
    return actions


@transaction.atomic
def quarantine_devices(incident, devices, *, actor, reason):
    """Quarantine each device (``transition_device``); returns the actions taken."""

    def act(device, full_reason):
        if device.state == LifecycleState.QUARANTINED:
            raise ValidationError({"devices": f"{device} is already quarantined."})
        source = device.state
        transition_device(device, LifecycleState.QUARANTINED, actor=actor, reason=full_reason)
        was = LifecycleState(source).label.lower()
        return f"Quarantined {device} (was {was})", {"from_state": source}

    return _each_device(
        incident, devices, ContainmentKind.QUARANTINE, actor=actor, reason=reason, act=act
    )


@transaction.atomic
def revoke_certificates(incident, devices, *, actor, reason):
    """Revoke every active certificate of each device. Not reversible: re-enrol afterwards."""

    def act(device, full_reason):
        count = revoke_device_certificates(device, actor=actor, reason=full_reason)
        return f"Revoked {count} certificate(s) of {device}", {"revoked": count}

    return _each_device(
        incident, devices, ContainmentKind.REVOKE_CERTIFICATES, actor=actor, reason=reason, act=act
    )


@transaction.atomic
def pause_rollouts(incident, devices, *, actor, reason):
    """Pause every active rollout that targets any of ``devices``; one action per rollout."""

    locked, full_reason = _prepare(incident, actor, reason)
    devices = _devices_of(locked, devices)
    rollouts = pause_rollouts_for_devices(devices, actor=actor, reason=full_reason)
    actions = [
        _record(
            locked,
            ContainmentKind.PAUSE_ROLLOUTS,
            actor=actor,
            reason=full_reason,
            text=f"Paused rollout {rollout}",
            target=rollout,
            details={"rollout": rollout.pk, "devices": [d.uid for d in devices]},
        )
        for rollout in rollouts
    ]
    if not actions:
        add_timeline(
            locked,
            TimelineKind.CONTAINMENT,
            f"No active rollout touches {', '.join(str(d) for d in devices)}; nothing to pause",
            actor=actor,
        )
    _affect(locked, devices)
    return actions


@transaction.atomic
def suspend_api_key(incident, api_key, *, actor, reason):
    """Suspend an integration's API key (it is refused at the API until resumed)."""

    locked, full_reason = _prepare(incident, actor, reason)
    if not isinstance(api_key, ApiKey) or api_key.organization_id != locked.organization_id:
        raise ValidationError({"api_key": "No such API key in this incident's organization."})
    if api_key.suspended:
        raise ValidationError({"api_key": f"{api_key} is already suspended."})
    set_api_key_suspended(api_key, True, actor=actor, reason=full_reason)
    return _record(
        locked,
        ContainmentKind.SUSPEND_API_KEY,
        actor=actor,
        reason=full_reason,
        text=f"Suspended API key {api_key}",
        api_key=api_key,
        target=api_key,
        details={"api_key": api_key.prefix},
    )


@transaction.atomic
def reverse_containment(action, *, actor, reason):
    """Undo a reversible action through the owning service; the original row keeps its record."""
    locked_action = ContainmentAction.objects.select_for_update().get(pk=action.pk)
    incident = locked_action.incident
    ensure_incident_permitted(actor, "contain", incident)
    if locked_action.reversed_at is not None:
        raise ValidationError({"action": "This action was already reversed."})
    if not locked_action.reversible:
        raise ValidationError(
            {"action": f"{locked_action.get_kind_display()} cannot be reversed; re-enrol instead."}
        )
    locked = lock_incident(incident)
    full_reason = _reason(locked, reason)
    kind = locked_action.kind
    if kind == ContainmentKind.QUARANTINE:
        device = Device.objects.get(pk=locked_action.device_id)
        if device.state != LifecycleState.QUARANTINED:
            raise ValidationError({"action": f"{device} is no longer quarantined."})
        target = device.quarantined_from or locked_action.details.get("from_state")
        transition_device(device, target, actor=actor, reason=full_reason)
        text = f"Released {device} from quarantine (back to {LifecycleState(target).label.lower()})"
    elif kind == ContainmentKind.PAUSE_ROLLOUTS:
        rollout = Rollout.objects.get(pk=locked_action.details["rollout"])
        resume_rollout(rollout, actor=actor, reason=full_reason)
        text = f"Resumed rollout {rollout}"
    else:
        key = ApiKey.objects.get(pk=locked_action.api_key_id)
        set_api_key_suspended(key, False, actor=actor, reason=full_reason)
        text = f"Resumed API key {key}"
    locked_action.reversed_at = timezone.now()
    locked_action.reversed_by = user_or_none(actor)
    locked_action.reverse_reason = full_reason
    locked_action.save(update_fields=["reversed_at", "reversed_by", "reverse_reason", "updated_at"])
    add_timeline(
        locked,
        TimelineKind.CONTAINMENT,
        text,
        actor=actor,
        data={"action": locked_action.pk, "kind": kind, "reversed": True},
    )
    record_audit(
        f"incidents.containment.{kind}.reverse",
        actor=actor,
        obj=locked,
        changes={"action": locked_action.pk, "reason": full_reason},
    )
    publish("incident.containment_reversed", locked, action=locked_action.pk, kind=kind)
    return locked_action
