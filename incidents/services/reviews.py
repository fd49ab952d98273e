"""Lessons learned: the post-incident review, follow-up actions and risks it creates."""

from django.db import transaction
from django.utils import timezone

from encompass.audit.services import diff, record_audit, snapshot
from encompass.exceptions import ValidationError
from encompass.tenancy.access import has_access

from ..choices import Phase, TimelineKind
from ..models import IncidentAction, IncidentRisk, PostIncidentReview
from .common import add_timeline, ensure_incident_permitted, lock_incident, publish, user_or_none

REVIEW_FIELDS = PostIncidentReview.REQUIRED


@transaction.atomic
def save_review(incident, *, actor, **fields):
    """Draft or edit the review (any phase before closing); a completed review is frozen."""
    ensure_incident_permitted(actor, "review", incident)
    unknown = set(fields) - set(REVIEW_FIELDS)
    if unknown:
        raise ValidationError({sorted(unknown)[0]: "Not a review field."})
    locked = lock_incident(incident)
    if locked.phase == Phase.CLOSED:
        raise ValidationError(
            {"incident": "The incident is closed; reopen it to change the review."}
        )
    review, created = PostIncidentReview.objects.select_for_update().get_or_create(
        incident=locked, defaults={"organization_id": locked.organization_id}
    )
    if review.is_complete:
        raise ValidationError({"review": "The review is completed; it can no longer change."})
    before = snapshot(review)
    for name, value in fields.items():
        setattr(review, name, (value or "").strip())
    review.full_clean()
    review.save()
    changes = diff(before, snapshot(review))
    if created or changes:
        add_timeline(
            locked,
            TimelineKind.REVIEW,
            "Review drafted"
            if created
            else "Review edited: "
            + ", ".join(k.replace("_", " ") for k in changes if k in REVIEW_FIELDS),
            actor=actor,
            data={"fields": sorted(k for k in changes if k in REVIEW_FIELDS)},
        )
        record_audit("incidents.review.update", actor=actor, obj=review, changes=changes)
    return review


@transaction.atomic
def complete_review(incident, *, actor):
    """Complete the review (lessons learned, every section written); the incident may then close."""
    ensure_incident_permitted(actor, "review", incident)
    locked = lock_incident(incident)
    if locked.phase != Phase.LESSONS_LEARNED:
        raise ValidationError({"phase": "The review is completed in the lessons-learned phase."})
    review = PostIncidentReview.objects.select_for_update().filter(incident=locked).first()
    if review is None:
        raise ValidationError({"review": "Write the review first."})
    if review.is_complete:
        raise ValidationError({"review": "The review is already completed."})
    missing = {
        f: "Write this section before completing the review."
        for f in REVIEW_FIELDS
        if not getattr(review, f).strip()
    }
    if missing:
        raise ValidationError(missing)
    review.completed_at = timezone.now()
    review.completed_by = user_or_none(actor)
    review.save(update_fields=["completed_at", "completed_by", "updated_at"])
    add_timeline(locked, TimelineKind.REVIEW, "Post-incident review completed (ID.IM)", actor=actor)
    record_audit("incidents.review.complete", actor=actor, obj=review, changes={})
    publish("incident.review_completed", locked)
    return review


@transaction.atomic
def add_follow_up_action(incident, *, actor, text, owner=None, due_on=None, requirement_ref=""):
    """A follow-up action from the review, optionally against a compliance requirement."""
    ensure_incident_permitted(actor, "review", incident)
    if not (text or "").strip():
        raise ValidationError({"text": "Say what must be done."})
    locked = lock_incident(incident)
    if owner is not None and not has_access(owner, locked, "view"):
        raise ValidationError({"owner": f"{owner} is not in this organization."})
    action = IncidentAction.objects.create(
        organization_id=locked.organization_id,
        incident=locked,
        text=text.strip(),
        owner=owner,
        due_on=due_on,
        requirement_ref=(requirement_ref or "").strip(),
    )
    ref = f" [{action.requirement_ref}]" if action.requirement_ref else ""
    add_timeline(
        locked,
        TimelineKind.REVIEW,
        f"Follow-up action{ref}: {action.text}",
        actor=actor,
        data={"action": action.pk, "requirement": action.requirement_ref},
    )
    record_audit(
        "incidents.incidentaction.create",
        actor=actor,
        obj=action,
        changes={"after": snapshot(action)},
    )
    publish("incident.follow_up_added", locked, action=action.pk)
    return action


@transaction.atomic
def create_risk_from_review(
    incident, *, actor, title, likelihood, impact, description="", **risk_fields
):
    """Create a risk in the risk register (``risk.services.create_risk``) and link it.

    ``likelihood`` and ``impact`` are the register's matrix values (1-5 on the default matrix);
    other keywords pass through to ``create_risk`` (owner, treatment, review_due_on ...).
    """
    ensure_incident_permitted(actor, "review", incident)
    if not (title or "").strip():
        raise ValidationError({"title": "Name the risk."})
    try:
        from risk.services import create_risk
    except ImportError as exc:
        raise ValidationError({"risk": "The risk register is not installed."}) from exc
    locked = lock_incident(incident)
    text = description or (
        f"Raised by the post-incident review of {locked.reference} ({locked.title})."
    )
    risk = create_risk(
        actor=actor,
        organization=locked.organization,
        title=title.strip(),
        description=text,
        likelihood=likelihood,
        impact=impact,
        source=f"incident {locked.reference}",
        **risk_fields,
    )
    link = IncidentRisk.objects.create(
        organization_id=locked.organization_id,
        incident=locked,
        risk_id=risk.pk,
        title=str(getattr(risk, "title", title))[:300],
        created_by=user_or_none(actor),
    )
    add_timeline(
        locked,
        TimelineKind.REVIEW,
        f"Risk created in the register: {link.title}",
        actor=actor,
        data={"risk": risk.pk},
    )
    record_audit(
        "incidents.incident.create_risk",
        actor=actor,
        obj=locked,
        changes={"risk": risk.pk, "title": link.title},
    )
    publish("incident.risk_created", locked, risk=risk.pk)
    return link
