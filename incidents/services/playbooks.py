"""Playbooks: load the shipped ones, apply one to an incident, work its tasks."""

import datetime
import json
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from encompass.audit.services import record_audit
from encompass.exceptions import ValidationError
from encompass.tenancy.access import ensure_can_create, has_access
from encompass.tenancy.roles import Role

from ..choices import Category, Phase, TimelineKind
from ..models import IncidentTask, Playbook, PlaybookTask
from .common import add_timeline, ensure_incident_permitted, lock_incident, publish, user_or_none

PLAYBOOK_DIR = Path(__file__).resolve().parent.parent / "playbooks"


def read_playbook_file(path):
    """Parse and validate one playbook file; errors name the file and the field."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ValidationError({"file": f"{path}: {exc}"}) from exc
    name = Path(path).name
    for key in ("slug", "name", "category", "version", "tasks"):
        if key not in data:
            raise ValidationError({key: f"{name}: missing {key!r}."})
    if data["category"] not in Category.values:
        raise ValidationError({"category": f"{name}: unknown category {data['category']!r}."})
    for i, task in enumerate(data["tasks"]):
        if task.get("phase") not in Phase.values or task["phase"] == Phase.CLOSED:
            raise ValidationError({"tasks": f"{name}: task {i} has an unknown phase."})
        if not task.get("title"):
            raise ValidationError({"tasks": f"{name}: task {i} has no title."})
        if task.get("owner_role", "") not in ("", *Role.values):
            raise ValidationError({"tasks": f"{name}: task {i} has an unknown owner_role."})
    return data


def shipped_playbooks():
    return [read_playbook_file(p) for p in sorted(PLAYBOOK_DIR.glob("*.json"))]


@transaction.atomic
def load_shipped_playbooks(organization, *, actor):
    """Install or upgrade the shipped playbooks in ``organization``; returns (created, updated).

    A playbook whose stored version is older than the file's gets the file's tasks (incident
    tasks already created from it keep their text). An organization's own edits to a shipped
    playbook survive until the file's version moves past it.
    """
    if not isinstance(actor, str):
        ensure_can_create(actor, Playbook, organization)
    created = updated = 0
    for data in shipped_playbooks():
        playbook = (
            Playbook.objects.select_for_update()
            .filter(organization=organization, slug=data["slug"])
            .first()
        )
        if playbook is not None and playbook.version >= data["version"]:
            continue
        if playbook is None:
            playbook = Playbook(organization=organization, slug=data["slug"])
            created += 1
        else:
            updated += 1
            playbook.tasks.all().delete()
        playbook.name = data["name"]
        playbook.category = data["category"]
        playbook.description = data.get("description", "")
        playbook.version = data["version"]
        playbook.shipped = True
        playbook.full_clean()
        playbook.save()
        PlaybookTask.objects.bulk_create(
            PlaybookTask(
                organization=organization,
                playbook=playbook,
                phase=task["phase"],
                order=i,
                title=task["title"],
                description=task.get("description", ""),
                owner_role=task.get("owner_role", ""),
                due_after_minutes=task.get("due_after_minutes"),
            )
            for i, task in enumerate(data["tasks"])
        )
        record_audit(
            "incidents.playbook.load",
            actor=actor,
            obj=playbook,
            changes={"slug": playbook.slug, "version": playbook.version},
        )
    return created, updated


@transaction.atomic
def apply_playbook(incident, playbook, *, actor, system=False):
    """Create the playbook's tasks on ``incident`` (due times counted from now)."""
    ensure_incident_permitted(actor, "change", incident, system=system)
    if playbook.organization_id != incident.organization_id:
        raise ValidationError({"playbook": "No such playbook in this incident's organization."})
    locked = lock_incident(incident)
    if locked.phase == Phase.CLOSED:
        raise ValidationError({"incident": "The incident is closed."})
    if locked.playbook_id == playbook.pk:
        raise ValidationError({"playbook": "This playbook is already applied."})
    now = timezone.now()
    tasks = IncidentTask.objects.bulk_create(
        IncidentTask(
            organization_id=locked.organization_id,
            incident=locked,
            phase=t.phase,
            order=t.order,
            title=t.title,
            description=t.description,
            owner_role=t.owner_role,
            due_at=now + datetime.timedelta(minutes=t.due_after_minutes)
            if t.due_after_minutes
            else None,
            playbook_task=t,
        )
        for t in playbook.tasks.all()
    )
    locked.playbook = playbook
    locked.save(update_fields=["playbook", "updated_at"])
    add_timeline(
        locked,
        TimelineKind.PLAYBOOK,
        f"Applied playbook “{playbook.name}” (v{playbook.version}): {len(tasks)} tasks",
        actor=actor,
        data={"playbook": playbook.pk, "tasks": len(tasks)},
    )
    record_audit(
        "incidents.incident.apply_playbook",
        actor=actor,
        obj=locked,
        changes={"playbook": playbook.slug, "tasks": len(tasks)},
    )
    publish("incident.playbook_applied", locked, playbook=playbook.slug)
    return tasks


@transaction.atomic
def add_task(incident, *, actor, title, phase, description="", owner=None, due_at=None):
    ensure_incident_permitted(actor, "respond", incident)
    if phase not in Phase.values or phase == Phase.CLOSED:
        raise ValidationError({"phase": f"Unknown phase {phase!r}."})
    if not (title or "").strip():
        raise ValidationError({"title": "Say what needs doing."})
    locked = lock_incident(incident)
    if owner is not None and not has_access(owner, locked, "respond"):
        raise ValidationError({"owner": f"{owner} cannot work this incident."})
    task = IncidentTask.objects.create(
        organization_id=locked.organization_id,
        incident=locked,
        phase=phase,
        order=locked.tasks.count(),
        title=title.strip(),
        description=description,
        owner=owner,
        due_at=due_at,
    )
    add_timeline(
        locked, TimelineKind.TASK, f"Task added: {task.title}", actor=actor, data={"task": task.pk}
    )
    record_audit(
        "incidents.incidenttask.create",
        actor=actor,
        obj=task,
        changes={"title": task.title, "phase": phase},
    )
    publish("incident.task_changed", locked, task=task.pk)
    return task


@transaction.atomic
def update_task(task, *, actor, done=None, owner=..., due_at=...):
    """Mark a task done / not done, or change its owner or due time."""
    ensure_incident_permitted(actor, "respond", task.incident)
    locked_task = (
        IncidentTask.objects.select_for_update().select_related("incident").get(pk=task.pk)
    )
    incident = lock_incident(locked_task.incident)
    changes, notes = {}, []
    if owner is not ...:
        if owner is not None and not has_access(owner, incident, "respond"):
            raise ValidationError({"owner": f"{owner} cannot work this incident."})
        if locked_task.owner_id != (owner.pk if owner else None):
            changes["owner"] = [locked_task.owner_id, owner.pk if owner else None]
            locked_task.owner = owner
            notes.append(f"owner {owner.get_username() if owner else 'none'}")
    if due_at is not ... and locked_task.due_at != due_at:
        changes["due_at"] = [str(locked_task.due_at), str(due_at)]
        locked_task.due_at = due_at
        notes.append(f"due {due_at:%Y-%m-%d %H:%M}" if due_at else "no due time")
    if done is not None and bool(done) != locked_task.done:
        changes["done"] = [locked_task.done, bool(done)]
        locked_task.done = bool(done)
        locked_task.done_at = timezone.now() if done else None
        locked_task.done_by = user_or_none(actor) if done else None
        notes.append("done" if done else "reopened")
    if not changes:
        return locked_task
    locked_task.save()
    add_timeline(
        incident,
        TimelineKind.TASK,
        f"Task “{locked_task.title}”: {', '.join(notes)}",
        actor=actor,
        data={"task": locked_task.pk, **{k: v[1] for k, v in changes.items() if k != "due_at"}},
    )
    record_audit("incidents.incidenttask.update", actor=actor, obj=locked_task, changes=changes)
    publish("incident.task_changed", incident, task=locked_task.pk, done=locked_task.done)
    return locked_task
