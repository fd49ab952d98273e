"""Treatment plans: mitigations with an owner, a due date and a status."""

from django.db import transaction
from django.utils import timezone

from ..choices import MITIGATION_TRANSITIONS, MitigationStatus, RiskStatus
from ..models import Mitigation
from .common import (
    ValidationError,
    check_member,
    check_same_org,
    ensure_can_create,
    ensure_permitted,
    record,
    snapshot,
)

EDITABLE_FIELDS = ("title", "description", "owner", "due_on", "requirement_refs", "devices")


def _check(mitigation, devices):
    check_member(mitigation.organization, "owner", mitigation.owner)
    if devices is not None:
        check_same_org(mitigation.organization, "devices", devices)


@transaction.atomic
def create_mitigation(
    risk,
    *,
    actor,
    title,
    description="",
    owner=None,
    due_on=None,
    devices=(),
    requirement_refs=(),
):
    """Add a mitigation to ``risk``'s treatment plan."""
    ensure_can_create(actor, Mitigation, risk.organization)
    ensure_permitted(actor, "view", risk)
    if risk.status == RiskStatus.CLOSED:
        raise ValidationError({"risk": "This risk is closed; reopen it to plan more work."})
    devices = list(devices)
    mitigation = Mitigation(
        organization=risk.organization,
        risk=risk,
        title=title,
        description=description,
        owner=owner,
        due_on=due_on,
        requirement_refs=list(requirement_refs),
    )
    _check(mitigation, devices)
    mitigation.full_clean()
    mitigation.save()
    mitigation.devices.set(devices)
    record(
        "create",
        mitigation,
        actor=actor,
        extra={"devices": sorted(d.pk for d in devices)} if devices else None,
        payload={"risk": risk.pk},
    )
    return mitigation


@transaction.atomic
def update_mitigation(mitigation, *, actor, **fields):
    ensure_permitted(actor, "change", mitigation)
    locked = Mitigation.objects.select_for_update().get(pk=mitigation.pk)
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({name: "This field cannot be changed here." for name in unknown})
    before = snapshot(locked)
    devices = fields.pop("devices", None)
    devices = list(devices) if devices is not None else None
    for name, value in fields.items():
        setattr(locked, name, list(value) if name == "requirement_refs" else value)
    _check(locked, devices)
    locked.full_clean()
    locked.save()
    extra = {}
    if devices is not None:
        old = sorted(locked.devices.values_list("pk", flat=True))
        locked.devices.set(devices)
        if old != sorted(d.pk for d in devices):
            extra["devices"] = [old, sorted(d.pk for d in devices)]
    record("update", locked, actor=actor, before=before, extra=extra)
    return locked


@transaction.atomic
def set_mitigation_status(mitigation, *, actor, status, note=""):
    """Move a mitigation along: planned → in progress → done (or cancelled, with a note)."""
    ensure_permitted(actor, "change", mitigation)
    locked = Mitigation.objects.select_for_update().get(pk=mitigation.pk)
    if status not in MitigationStatus.values:
        raise ValidationError({"status": f"Choose one of {', '.join(MitigationStatus.values)}."})
    if status not in MITIGATION_TRANSITIONS[locked.status]:
        raise ValidationError(
            {
                "status": f"A {locked.get_status_display().lower()} mitigation cannot become "
                f"{MitigationStatus(status).label.lower()}."
            }
        )
    if status == MitigationStatus.CANCELLED and not note.strip():
        raise ValidationError({"note": "Say why the mitigation is cancelled."})
    before = snapshot(locked)
    locked.status = status
    locked.status_note = note
    if status == MitigationStatus.DONE:
        locked.done_at = timezone.now()
        locked.done_by = actor if getattr(actor, "_meta", None) else None
    else:
        locked.done_at = None
        locked.done_by = None
    locked.save()
    record(
        "status",
        locked,
        actor=actor,
        before=before,
        extra={"note": note},
        payload={"risk": locked.risk_id, "status": status},
    )
    return locked


@transaction.atomic
def delete_mitigation(mitigation, *, actor):
    ensure_permitted(actor, "delete", mitigation)
    locked = Mitigation.objects.select_for_update().get(pk=mitigation.pk)
    if locked.status == MitigationStatus.DONE:
        raise ValidationError({"status": "A completed mitigation is history; it stays."})
    record("delete", locked, actor=actor, extra={"before": snapshot(locked)}, event=False)
    pk = locked.pk
    locked.delete()
    return pk
