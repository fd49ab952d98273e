"""The decommissioning workflow: a checklist per device, each item done through a service.

Entering ``decommissioning`` creates the checklist (a lifecycle side effect). Then, in any order:

1. ``revoke_credentials`` -- clears the per-device token and calls every credential revoker other
   apps registered (``devices.lifecycle.credential_revokers()``: certificates ...);
2. ``remove_from_rollouts`` -- calls every registered rollout remover;
3. ``attest_data_wipe`` -- how the device was wiped and who vouches for it;
4. ``decide_retention`` -- keep, anonymise or delete the telemetry and logs the device sent; the
   decision is carried out here, in the same transaction, and may later only become stricter.

``decommissioned`` is refused until those four are done. Then ``record_disposal`` (method,
certificate-of-destruction reference) and only then ``disposed``. Every step is audited and
published as a ``device.decommissioning`` event.
"""

from django.db import transaction
from django.utils import timezone

from encompass.audit.services import actor_label, record_audit, user_or_none
from encompass.events.models import Event
from encompass.events.services import record_event
from encompass.exceptions import NotPermitted, ValidationError
from encompass.tenancy.access import ensure_permitted, roles_in

from .choices import (
    CHECKLIST_ROLES,
    ITEMS_BEFORE_DECOMMISSIONED,
    RETAINED_EVENT_KINDS,
    RETENTION_STRICTNESS,
    ChecklistItem,
    DisposalMethod,
    LifecycleState,
    RetentionDecision,
    WipeMethod,
)
from .lifecycle import credential_revokers, register_guard, register_side_effect, rollout_removers
from .models import DecommissioningChecklist, Device

# --- lifecycle hooks -----------------------------------------------------------------------------


def start_checklist(device, transition, *, actor, reason):
    """Side effect of entering decommissioning: the device's checklist, empty."""
    checklist, _ = DecommissioningChecklist.objects.get_or_create(
        device=device,
        defaults={
            "organization": device.organization,
            "started_by_label": actor_label(actor)[:200],
            "reason": reason,
        },
    )
    return checklist


def _missing_message(checklist, items, target):
    missing = checklist.missing(items) if checklist else [ChecklistItem(i) for i in items]
    if not missing:
        return None
    names = "; ".join(item.label.lower() for item in missing)
    return f"Before the device is {target}, complete the decommissioning checklist: {names}."


def checklist_ready_for_decommissioned(device, transition):
    checklist = DecommissioningChecklist.objects.filter(device=device).first()
    return _missing_message(checklist, ITEMS_BEFORE_DECOMMISSIONED, "decommissioned")


def checklist_complete(device, transition):
    checklist = DecommissioningChecklist.objects.filter(device=device).first()
    return _missing_message(checklist, list(ChecklistItem), "disposed")


def register_hooks():
    register_side_effect(LifecycleState.DECOMMISSIONING, start_checklist)
    register_guard(LifecycleState.DECOMMISSIONED, checklist_ready_for_decommissioned)
    register_guard(LifecycleState.DISPOSED, checklist_complete)


# --- the items ---------------------------------------------------------------------------------


def _lock(device, actor, item, states):
    """Check ``actor`` may do ``item``; lock and return ``(device, checklist)`` in ``states``."""
    ensure_permitted(actor, "view", device)
    locked = Device.objects.select_for_update(of=("self",)).select_related("site").get(pk=device.pk)
    roles = roles_in(actor, locked.organization, locked.site)
    if not roles & CHECKLIST_ROLES[item]:
        raise NotPermitted(f"Your role may not record “{ChecklistItem(item).label.lower()}”.")
    if locked.state not in states:
        wanted = " or ".join(LifecycleState(s).label.lower() for s in states)
        raise ValidationError(
            {
                "state": f"“{ChecklistItem(item).label}” is recorded while the device is {wanted}; "
                f"it is {locked.get_state_display().lower()}."
            }
        )
    checklist = DecommissioningChecklist.objects.select_for_update().get(device=locked)
    return locked, checklist


def _refuse_if_done(checklist, item):
    if checklist.is_done(item):
        raise ValidationError(
            {item: f"Already recorded: {checklist.summary(item)} ({checklist.done_at(item):%c})."}
        )


def _record(device, checklist, item, *, actor, details):
    record_audit(
        f"devices.decommissioning.{item}",
        actor=actor,
        obj=device,
        changes=details,
    )
    record_event(
        "device.decommissioning",
        organization=device.organization,
        device=device,
        payload={"item": item, "summary": checklist.summary(item), **details},
    )


def _required_text(value, field, message):
    value = (value or "").strip()
    if not value:
        raise ValidationError({field: message})
    return value


def _one_of(value, choices, field):
    """``value`` if it is one of the ``choices`` (a TextChoices), else a field-named error."""
    if value not in choices.values:
        raise ValidationError(
            {field: f"Choose one of: {', '.join(choices.values)} (got {value!r})."}
        )
    return value


def _not_future(day, field, message):
    """``day`` (today when not given), refused when it lies in the future."""
    day = day or timezone.localdate()
    if day > timezone.localdate():
        raise ValidationError({field: message})
    return day


@transaction.atomic
def revoke_credentials(device, *, actor, reason="Decommissioning"):
    """Revoke every credential the device holds: its token, and what each registered revoker
    (certificates ...) holds. Records how many were revoked, by whom and when."""
    item = ChecklistItem.CREDENTIALS
    locked, checklist = _lock(device, actor, item, {LifecycleState.DECOMMISSIONING})
    _refuse_if_done(checklist, item)
    had_token = bool(locked.token_hash)
    from .services import clear_device_token

    clear_device_token(locked, actor=actor, reason=reason)
    counts = {"device_token": int(had_token)}
    for revoker in credential_revokers():
        counts[f"{revoker.__module__}.{revoker.__name__}"] = int(
            revoker(locked, actor=actor, reason=reason) or 0
        )
    checklist.credentials_revoked_at = timezone.now()
    checklist.credentials_revoked_by = user_or_none(actor)
    checklist.credentials_revoked_by_label = actor_label(actor)[:200]
    checklist.credentials_revoked_count = sum(counts.values())
    checklist.save()
    _record(locked, checklist, item, actor=actor, details={"revoked": counts, "reason": reason})
    return checklist


@transaction.atomic
def remove_from_rollouts(device, *, actor, reason="Decommissioning"):
    """Take the device out of every pending rollout (through each registered rollout remover)."""
    item = ChecklistItem.ROLLOUTS
    locked, checklist = _lock(device, actor, item, {LifecycleState.DECOMMISSIONING})
    _refuse_if_done(checklist, item)
    counts = {
        f"{remover.__module__}.{remover.__name__}": int(
            remover(locked, actor=actor, reason=reason) or 0
        )
        for remover in rollout_removers()
    }
    checklist.rollouts_removed_at = timezone.now()
    checklist.rollouts_removed_by = user_or_none(actor)
    checklist.rollouts_removed_by_label = actor_label(actor)[:200]
    checklist.rollouts_removed_count = sum(counts.values())
    checklist.save()
    _record(locked, checklist, item, actor=actor, details={"removed": counts, "reason": reason})
    return checklist


@transaction.atomic
def attest_data_wipe(device, *, actor, method, attested_by, wiped_on=None, notes=""):
    """Record that the device's storage was wiped: how, when, and who vouches for it."""
    item = ChecklistItem.DATA_WIPE
    _one_of(method, WipeMethod, "method")
    attested_by = _required_text(
        attested_by, "attested_by", "Name the person who wiped the device and vouches for it."
    )
    wiped_on = _not_future(wiped_on, "wiped_on", "The wipe date cannot be in the future.")
    locked, checklist = _lock(device, actor, item, {LifecycleState.DECOMMISSIONING})
    _refuse_if_done(checklist, item)
    checklist.data_wiped_at = timezone.now()
    checklist.data_wiped_on = wiped_on
    checklist.wipe_method = method
    checklist.wipe_attested_by = attested_by[:200]
    checklist.wipe_notes = (notes or "").strip()
    checklist.data_wipe_recorded_by = user_or_none(actor)
    checklist.data_wipe_recorded_by_label = actor_label(actor)[:200]
    checklist.save()
    _record(
        locked,
        checklist,
        item,
        actor=actor,
        details={
            "method": method,
            "attested_by": checklist.wipe_attested_by,
            "wiped_on": wiped_on.isoformat(),
            "notes": checklist.wipe_notes,
        },
    )
    return checklist


def anonymise_payload(value):
    """Keep only numbers (and booleans): measurements survive, identifiers and free text do not."""
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        kept = {k: anonymise_payload(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        kept = [anonymise_payload(v) for v in value]
        return [v for v in kept if v is not None and v != {} and v != []]
    return None


def apply_retention(device, decision):
    """Carry out ``decision`` on the device's telemetry and logs; returns how many rows changed."""
    events = Event.objects.filter(device=device, kind__in=RETAINED_EVENT_KINDS)
    if decision == RetentionDecision.DELETE:
        deleted, _ = events.delete()
        return deleted
    if decision == RetentionDecision.ANONYMISE:
        changed = 0
        batch = []
        for event in events.only("pk", "payload").iterator(chunk_size=1000):
            event.payload = anonymise_payload(event.payload) or {}
            event.device = None
            event.event_id = None
            batch.append(event)
            if len(batch) >= 1000:
                changed += len(batch)
                Event.objects.bulk_update(batch, ["payload", "device", "event_id"])
                batch = []
        if batch:
            changed += len(batch)
            Event.objects.bulk_update(batch, ["payload", "device", "event_id"])
        return changed
    return 0


@transaction.atomic
def decide_retention(device, *, actor, decision, justification):
    """Decide what happens to the device's telemetry and logs, and do it now.

    * keep -- nothing changes (say why in the justification: a legal hold, an investigation);
    * anonymise -- the events are detached from the device and keep only their numbers;
    * delete -- the events are deleted.

    A decision may be changed only to a stricter one (keep → anonymise → delete).
    """
    item = ChecklistItem.RETENTION
    _one_of(decision, RetentionDecision, "decision")
    justification = _required_text(
        justification,
        "justification",
        "Say why (data minimisation, legal hold, investigation ...).",
    )
    locked, checklist = _lock(
        device, actor, item, {LifecycleState.DECOMMISSIONING, LifecycleState.DECOMMISSIONED}
    )
    previous = checklist.retention_decision
    if previous and RETENTION_STRICTNESS[decision] <= RETENTION_STRICTNESS[previous]:
        raise ValidationError(
            {
                "decision": f"Already decided: {RetentionDecision(previous).label}. A decision "
                "may only become stricter (keep → anonymise → delete)."
            }
        )
    affected = apply_retention(locked, decision)
    checklist.retention_decision = decision
    checklist.retention_decided_at = timezone.now()
    checklist.retention_decided_by = user_or_none(actor)
    checklist.retention_decided_by_label = actor_label(actor)[:200]
    checklist.retention_justification = justification
    checklist.retention_events_affected += affected
    checklist.save()
    _record(
        locked,
        checklist,
        item,
        actor=actor,
        details={
            "decision": decision,
            "previous": previous or None,
            "events_affected": affected,
            "event_kinds": list(RETAINED_EVENT_KINDS),
            "justification": justification,
        },
    )
    return checklist


@transaction.atomic
def record_disposal(
    device, *, actor, method, certificate_reference, handled_by, disposed_on=None, notes=""
):
    """Record the physical disposal of a decommissioned device (method, certificate reference)."""
    item = ChecklistItem.DISPOSAL
    _one_of(method, DisposalMethod, "method")
    certificate_reference = _required_text(
        certificate_reference,
        "certificate_reference",
        "Give the reference of the certificate of destruction or recycling.",
    )
    handled_by = _required_text(
        handled_by, "handled_by", "Name the company or person that took the device."
    )
    disposed_on = _not_future(
        disposed_on, "disposed_on", "The disposal date cannot be in the future."
    )
    locked, checklist = _lock(device, actor, item, {LifecycleState.DECOMMISSIONED})
    _refuse_if_done(checklist, item)
    checklist.disposal_recorded_at = timezone.now()
    checklist.disposed_on = disposed_on
    checklist.disposal_method = method
    checklist.disposal_certificate_reference = certificate_reference[:200]
    checklist.disposal_handled_by = handled_by[:200]
    checklist.disposal_notes = (notes or "").strip()
    checklist.disposal_recorded_by = user_or_none(actor)
    checklist.disposal_recorded_by_label = actor_label(actor)[:200]
    checklist.save()
    _record(
        locked,
        checklist,
        item,
        actor=actor,
        details={
            "method": method,
            "certificate_reference": checklist.disposal_certificate_reference,
            "handled_by": checklist.disposal_handled_by,
            "disposed_on": disposed_on.isoformat(),
            "notes": checklist.disposal_notes,
        },
    )
    return checklist


# One name per item, for the API, admin and web UI (each passes the item's own fields).
ITEM_SERVICES = {
    ChecklistItem.CREDENTIALS: revoke_credentials,
    ChecklistItem.ROLLOUTS: remove_from_rollouts,
    ChecklistItem.DATA_WIPE: attest_data_wipe,
    ChecklistItem.RETENTION: decide_retention,
    ChecklistItem.DISPOSAL: record_disposal,
}
