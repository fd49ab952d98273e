"""Declaring incidents and working them: details, assignment, responders, notes."""

from django.db import transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from encompass.audit.services import diff, record_audit, snapshot
from encompass.exceptions import ValidationError
from encompass.tenancy.access import ensure_can_create, has_access
from encompass.tenancy.models import Organization

from ..choices import Category, IncidentSeverity, Phase, TimelineKind
from ..models import Incident, TimelineEntry
from ..models.incident import RESPOND_PERMISSION
from .common import (
    User,
    add_timeline,
    ensure_incident_permitted,
    lock_incident,
    publish,
    user_or_none,
)

EDITABLE_FIELDS = ("title", "description", "severity", "category", "external_reference")


def _check_same_org(organization, field, rows):
    for row in rows:
        if row.organization_id != organization.pk:
            raise ValidationError({field: f"{row} does not belong to {organization}."})


def _validate_choices(data):
    if "severity" in data and data["severity"] not in IncidentSeverity.values:
        raise ValidationError(
            {"severity": f"Unknown severity {data['severity']!r}; use {IncidentSeverity.values}."}
        )
    if "category" in data and data["category"] not in Category.values:
        raise ValidationError(
            {"category": f"Unknown category {data['category']!r}; use {Category.values}."}
        )
    if "title" in data and not (data["title"] or "").strip():
        raise ValidationError({"title": "Give the incident a title that says what is wrong."})


def _next_number(organization):
    # Serialize numbering per organization on the organization row. FOR NO KEY UPDATE, not
    # FOR UPDATE: the deferred foreign-key checks of other transactions (FOR KEY SHARE on this
    # row, at their COMMIT, after they took the audit chain) must not wait for us while we wait
    # for the audit chain (tests/security/test_lock_order.py).
    Organization.objects.select_for_update(no_key=True).filter(pk=organization.pk).first()
    last = (
        Incident.objects.filter(organization=organization)
        .order_by("-number")
        .values_list("number", flat=True)
        .first()
    )
    return (last or 0) + 1


@transaction.atomic
def declare_incident(
    *,
    organization,
    title,
    severity,
    actor,
    category=Category.OTHER,
    description="",
    detected_at=None,
    external_reference="",
    devices=(),
    sites=(),
    system=False,
    escalation_rule=None,
):
    """Open an incident in the detection phase; returns it."""
    if not system:
        ensure_can_create(actor, Incident, organization)
    data = {"title": title, "severity": severity, "category": category}
    _validate_choices(data)
    devices, sites = list(devices), list(sites)
    _check_same_org(organization, "devices", devices)
    _check_same_org(organization, "sites", sites)
    now = timezone.now()
    if detected_at is not None and detected_at > now:
        raise ValidationError({"detected_at": "Detection cannot be in the future."})
    incident = Incident(
        organization=organization,
        number=_next_number(organization),
        title=title.strip(),
        description=description,
        severity=severity,
        category=category,
        external_reference=external_reference,
        detected_at=detected_at or now,
        declared_at=now,
        phase=Phase.DETECTION,
        phase_changed_at=now,
        created_by=user_or_none(actor),
        escalation_rule=escalation_rule,
    )
    incident.full_clean()
    incident.save()
    incident.affected_devices.set(devices)
    site_ids = {s.pk for s in sites} | {d.site_id for d in devices if d.site_id}
    incident.affected_sites.set(site_ids)
    add_timeline(
        incident,
        TimelineKind.DECLARED,
        f"Declared {incident.get_severity_display().lower()} incident: {incident.title}",
        actor=actor,
        data={"severity": severity, "category": category},
    )
    record_audit(
        "incidents.incident.create",
        actor=actor,
        obj=incident,
        changes={"after": snapshot(incident)},
    )
    publish("incident.declared", incident)
    return incident


@transaction.atomic
def update_incident(incident, data, *, actor, devices=None, sites=None):
    """Change an incident's details (title, description, severity, category, external ref)."""
    ensure_incident_permitted(actor, "change", incident)
    unknown = set(data) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({sorted(unknown)[0]: "This field is not editable here."})
    _validate_choices(data)
    locked = lock_incident(incident)
    before = snapshot(locked)
    for name, value in data.items():
        setattr(locked, name, value.strip() if name == "title" else value)
    locked.full_clean()
    locked.save()
    changes = diff(before, snapshot(locked))
    if devices is not None:
        devices = list(devices)
        _check_same_org(locked.organization, "devices", devices)
        old = set(locked.affected_devices.values_list("pk", flat=True))
        locked.affected_devices.set(devices)
        new = {d.pk for d in devices}
        if old != new:
            changes["affected_devices"] = [sorted(old), sorted(new)]
            locked.affected_sites.add(*{d.site_id for d in devices if d.site_id})
    if sites is not None:
        sites = list(sites)
        _check_same_org(locked.organization, "sites", sites)
        old = set(locked.affected_sites.values_list("pk", flat=True))
        locked.affected_sites.set(sites)
        if old != {s.pk for s in sites}:
            changes["affected_sites"] = [sorted(old), sorted(s.pk for s in sites)]
    if changes:
        text = "Changed " + ", ".join(
            f"{k.replace('_', ' ')} from {v[0]!r} to {v[1]!r}"
            if k in ("severity", "category", "title")
            else k.replace("_", " ")
            for k, v in changes.items()
            if k != "updated_at"
        )
        add_timeline(
            locked, TimelineKind.UPDATE, text, actor=actor, data={"fields": sorted(changes)}
        )
        record_audit("incidents.incident.update", actor=actor, obj=locked, changes=changes)
        publish("incident.updated", locked, fields=sorted(changes))
    return locked


def _acknowledge(locked, actor, now):
    if locked.acknowledged_at is None:
        locked.acknowledged_at = now
        return True
    return False


@transaction.atomic
def assign_incident(incident, user, *, actor):
    """Make ``user`` (a member allowed to respond, or ``None``) the incident's assignee."""
    ensure_incident_permitted(actor, "assign", incident)
    locked = lock_incident(incident)
    if user is not None and not has_access(user, locked, "respond"):
        raise ValidationError(
            {"assignee": f"{user} cannot respond to this incident; add them as a responder first."}
        )
    previous = locked.assignee
    if previous == user:
        return locked
    now = timezone.now()
    locked.assignee = user
    acknowledged = user is not None and _acknowledge(locked, actor, now)
    locked.save(update_fields=["assignee", "acknowledged_at", "updated_at"])
    text = f"Assigned to {user.get_username()}" if user else "Unassigned"
    if acknowledged:
        text += " (acknowledged)"
    add_timeline(
        locked,
        TimelineKind.ASSIGNMENT,
        text,
        actor=actor,
        data={"assignee": user.pk if user else None, "previous": previous.pk if previous else None},
    )
    record_audit(
        "incidents.incident.assign",
        actor=actor,
        obj=locked,
        changes={
            "assignee": [
                previous.get_username() if previous else None,
                user.get_username() if user else None,
            ]
        },
    )
    publish("incident.assigned", locked, assignee=user.get_username() if user else None)
    if user is not None:
        from .notifications import notify_people

        notify_people(
            locked,
            [user],
            subject=f"[{locked.reference}] assigned to you: {locked.title}",
            body=f"You now lead {locked.reference} ({locked.get_severity_display()}).",
        )
    return locked


@transaction.atomic
def add_responder(incident, user, *, actor):
    """Pull ``user`` into the incident. Someone without a responder role in the organization gets
    a per-incident grant: they can view and work (notes, tasks) this incident only."""
    ensure_incident_permitted(actor, "assign", incident)
    if not isinstance(user, User) or not user.is_active:
        raise ValidationError({"user": "Choose an active user."})
    if hasattr(user, "api_key"):
        raise ValidationError({"user": "API-key service users cannot be responders."})
    locked = lock_incident(incident)
    if locked.responders.filter(pk=user.pk).exists():
        raise ValidationError({"user": f"{user.get_username()} is already a responder."})
    granted = False
    if not has_access(user, locked, "respond"):
        assign_perm(f"incidents.{RESPOND_PERMISSION}", user, locked)
        granted = True
    locked.responders.add(user)
    text = f"{user.get_username()} joined as responder" + (
        " (per-incident access granted)" if granted else ""
    )
    add_timeline(
        locked, TimelineKind.RESPONDER, text, actor=actor, data={"user": user.pk, "grant": granted}
    )
    record_audit(
        "incidents.incident.add_responder",
        actor=actor,
        obj=locked,
        changes={"responder": user.get_username(), "object_permission": granted},
    )
    publish("incident.responder_added", locked, user=user.get_username())
    from .notifications import notify_people

    notify_people(
        locked,
        [user],
        subject=f"[{locked.reference}] you are a responder: {locked.title}",
        body=f"You were added as a responder to {locked.reference}.",
    )
    return locked


@transaction.atomic
def remove_responder(incident, user, *, actor):
    """Remove a responder; a per-incident grant goes with them."""
    ensure_incident_permitted(actor, "assign", incident)
    locked = lock_incident(incident)
    if not locked.responders.filter(pk=user.pk).exists():
        raise ValidationError({"user": f"{user.get_username()} is not a responder."})
    locked.responders.remove(user)
    remove_perm(f"incidents.{RESPOND_PERMISSION}", user, locked)
    if locked.assignee_id == user.pk and not has_access(user, locked, "respond"):
        locked.assignee = None
        locked.save(update_fields=["assignee", "updated_at"])
    add_timeline(
        locked,
        TimelineKind.RESPONDER,
        f"{user.get_username()} left the response",
        actor=actor,
        data={"user": user.pk, "removed": True},
    )
    record_audit(
        "incidents.incident.remove_responder",
        actor=actor,
        obj=locked,
        changes={"responder": user.get_username()},
    )
    publish("incident.responder_removed", locked, user=user.get_username())
    return locked


@transaction.atomic
def add_note(incident, text, *, actor, corrects=None):
    """A responder's note on the timeline; ``corrects`` names an earlier entry it corrects."""
    ensure_incident_permitted(actor, "respond", incident)
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": "Write the note."})
    locked = lock_incident(incident)
    if corrects is not None:
        if not isinstance(corrects, TimelineEntry):
            corrects = TimelineEntry.objects.filter(incident=locked, pk=corrects).first()
        if corrects is None or corrects.incident_id != locked.pk:
            raise ValidationError({"corrects": "No such entry in this incident's timeline."})
    kind = TimelineKind.CORRECTION if corrects is not None else TimelineKind.NOTE
    entry = add_timeline(locked, kind, text, actor=actor, corrects=corrects)
    record_audit(
        f"incidents.incident.{kind}",
        actor=actor,
        obj=locked,
        changes={"entry": entry.pk, "corrects": corrects.pk if corrects else None},
    )
    publish("incident.note_added", locked, timeline_entry=entry.pk)
    return entry
