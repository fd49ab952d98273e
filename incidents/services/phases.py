"""``change_phase``: the only way an incident moves between phases.

Guards beyond the transition table (incidents/choices.py):

* recovery needs containment recorded (``contained_at``, set by ``record_containment`` -- the
  "time to contain" milestone; eradication may start before it when containment is partial);
* lessons learned needs the incident resolved (``resolved_at``, set when recovery ends) -- so a
  backward move that un-resolves it sends it through recovery again;
* closing needs a completed post-incident review;
* a backward move needs a note saying why.

Timestamps: leaving detection acknowledges; leaving recovery forward records ``resolved_at``;
entering closed records ``closed_at``. Moving
back to containment or analysis clears ``contained_at`` and ``resolved_at`` (it is no longer
contained); reopening a closed incident also clears ``closed_at`` and reopens the review.
"""

from django.db import transaction
from django.utils import timezone

from encompass.audit.services import record_audit
from encompass.exceptions import ValidationError

from ..choices import PHASE_CSF, PHASE_TRANSITION_TABLE, Phase, TimelineKind, next_phases
from .common import add_timeline, ensure_incident_permitted, lock_incident, publish


def _label(value):
    return Phase(value).label


def phase_problems(incident, target, note=""):
    """What stops ``incident`` moving to ``target`` (an empty list when it may)."""
    source = incident.phase
    rule = PHASE_TRANSITION_TABLE.get((source, target))
    if rule is None:
        options = ", ".join(_label(t.target) for t in next_phases(source)) or "none"
        return [
            f"An incident in {_label(source).lower()} cannot move to {_label(target).lower()}. "
            f"Allowed next phases: {options}."
        ]
    problems = []
    if rule.backward and not (note or "").strip():
        problems.append("Moving back a phase needs a note saying why.")
    if target == Phase.RECOVERY and incident.contained_at is None:
        problems.append("Recovery cannot start before containment is recorded.")
    resolved = incident.resolved_at is not None or source == Phase.RECOVERY
    if target == Phase.LESSONS_LEARNED and not resolved:
        problems.append("Lessons learned starts only once the incident is resolved.")
    if target == Phase.CLOSED:
        review = getattr(incident, "review", None)
        if review is None or not review.is_complete:
            problems.append("Complete the post-incident review before closing.")
    return problems


@transaction.atomic
def change_phase(incident, to, *, actor, note=""):
    """Move ``incident`` to phase ``to``; guards, timestamps, timeline, audit and event."""
    if to not in Phase.values:
        raise ValidationError({"to": f"Unknown phase {to!r}; use one of {Phase.values}."})
    ensure_incident_permitted(actor, "phase", incident)
    locked = lock_incident(incident)
    source = locked.phase
    problems = phase_problems(locked, to, note)
    if problems:
        raise ValidationError({"to": problems})
    rule = PHASE_TRANSITION_TABLE[(source, to)]
    now = timezone.now()
    changed = {"phase": [source, to]}

    def stamp(field, value):
        if getattr(locked, field) != value:
            changed[field] = [getattr(locked, field), value]
            setattr(locked, field, value)

    if source == Phase.DETECTION and locked.acknowledged_at is None:
        stamp("acknowledged_at", now)
    if source == Phase.RECOVERY and not rule.backward:
        stamp("resolved_at", now)
    if to == Phase.CLOSED:
        stamp("closed_at", now)
    if rule.backward:
        if to in (Phase.ANALYSIS, Phase.CONTAINMENT):
            stamp("contained_at", None)
        if to != Phase.LESSONS_LEARNED:
            stamp("resolved_at", None)
        stamp("closed_at", None)
    locked.phase = to
    locked.phase_changed_at = now
    locked.save()
    if source == Phase.CLOSED:
        from ..models import PostIncidentReview

        PostIncidentReview.objects.filter(incident=locked).update(
            completed_at=None, completed_by=None
        )
    csf = list(PHASE_CSF[Phase(to)])
    text = f"{_label(source)} → {_label(to)}" + (f" ({', '.join(csf)})" if csf else "")
    if note.strip():
        text += f": {note.strip()}"
    add_timeline(
        locked,
        TimelineKind.PHASE,
        text,
        actor=actor,
        data={"from": source, "to": to, "csf": csf, "backward": rule.backward, "note": note},
        at=now,
    )
    record_audit(
        "incidents.incident.phase",
        actor=actor,
        obj=locked,
        changes={
            **{
                k: [str(v[0]) if v[0] else None, str(v[1]) if v[1] else None]
                for k, v in changed.items()
            },
            "note": note,
        },
    )
    publish("incident.phase_changed", locked, **{"from": source, "to": to, "csf": csf})
    incident.phase = locked.phase
    return locked


@transaction.atomic
def record_containment(incident, *, actor, note=""):
    """Record that the threat is contained (stops the "time to contain" SLA clock)."""
    ensure_incident_permitted(actor, "phase", incident)
    locked = lock_incident(incident)
    if locked.phase not in (Phase.CONTAINMENT, Phase.ERADICATION):
        raise ValidationError(
            {"phase": "Containment is recorded during the containment or eradication phase."}
        )
    if locked.contained_at is not None:
        raise ValidationError({"contained_at": "Containment is already recorded."})
    locked.contained_at = timezone.now()
    locked.save(update_fields=["contained_at", "updated_at"])
    text = "Containment recorded (RS.MI)" + (f": {note.strip()}" if note.strip() else "")
    add_timeline(locked, TimelineKind.CONTAINMENT, text, actor=actor, data={"contained": True})
    record_audit(
        "incidents.incident.contained",
        actor=actor,
        obj=locked,
        changes={"contained_at": locked.contained_at.isoformat(), "note": note},
    )
    publish("incident.contained", locked)
    return locked
