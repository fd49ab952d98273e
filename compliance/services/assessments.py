"""Assessments and their results: create, scope, status, set a result, follow the checks.

A result is either set by a person (``source=manual``) or follows the automated checks mapped to
its requirement (``source=check``): all mapped checks pass -> compliant, all fail ->
non-compliant, a mix -> partially compliant. A person may override a suggested result, with a
justification; ``revert_to_checks`` hands the result back to the checks.
"""

from django.db import transaction
from django.utils import timezone

from encompass.audit.services import diff, record_audit, snapshot
from encompass.events.services import record_event
from encompass.exceptions import ValidationError
from encompass.tenancy.access import ensure_can_create, ensure_permitted

from ..choices import ASSESSMENT_TRANSITIONS, AssessmentStatus, Result, ResultSource
from ..models import Assessment, Requirement, RequirementResult
from .common import user_or_none
from .scoring import record_snapshots
from .suggestions import checks_by_requirement, latest_runs, scope_of, suggestion


def _check_scope_ownership(organization, sites, device_types):
    for name, rows in (("sites", sites), ("device_types", device_types)):
        for row in rows or ():
            if row.organization_id != organization.pk:
                raise ValidationError({name: f"{row} belongs to another organization."})


def _publish(kind, assessment, payload=None):
    record_event(
        kind,
        organization=assessment.organization,
        payload={"assessment": assessment.pk, "name": assessment.name, **(payload or {})},
    )


@transaction.atomic
def create_assessment(
    organization,
    *,
    framework,
    name,
    actor,
    description="",
    owner=None,
    sites=(),
    device_types=(),
    start=False,
):
    """Create an assessment with a not-assessed result for every assessable requirement."""
    ensure_can_create(actor, Assessment, organization)
    if framework is None:
        raise ValidationError({"framework": "Choose the framework to assess against."})
    _check_scope_ownership(organization, sites, device_types)
    assessment = Assessment(
        organization=organization,
        framework=framework,
        name=(name or "").strip(),
        description=description,
        owner=owner,
        created_by=user_or_none(actor),
    )
    assessment.full_clean()
    assessment.save()
    assessment.sites.set(sites or [])
    assessment.device_types.set(device_types or [])
    added = sync_results(assessment)
    record_audit(
        "compliance.assessment.create",
        actor=actor,
        obj=assessment,
        changes={
            "after": snapshot(assessment),
            "sites": [s.pk for s in sites or ()],
            "device_types": [t.pk for t in device_types or ()],
            "requirements": added,
        },
    )
    _publish("compliance.assessment_created", assessment)
    apply_latest_checks(assessment, actor=actor)
    if start:
        assessment = change_status(assessment, AssessmentStatus.IN_PROGRESS, actor=actor)
    return assessment


def sync_results(assessment):
    """Add a result row for each assessable requirement the assessment lacks (new revisions)."""
    have = set(assessment.results.values_list("requirement_id", flat=True))
    missing = Requirement.objects.filter(
        framework=assessment.framework, assessable=True, withdrawn_in_revision__isnull=True
    ).exclude(pk__in=have)
    rows = [
        RequirementResult(
            organization_id=assessment.organization_id, assessment=assessment, requirement=r
        )
        for r in missing
    ]
    RequirementResult.objects.bulk_create(rows)
    return len(rows)


@transaction.atomic
def update_assessment(assessment, data, *, actor, sites=None, device_types=None):
    """Change name, description, owner and scope (``sites`` / ``device_types``: None = keep)."""
    ensure_permitted(actor, "change", assessment)
    locked = Assessment.objects.select_for_update().get(pk=assessment.pk)
    before = snapshot(locked)
    allowed = {"name", "description", "owner"}
    unknown = set(data) - allowed
    if unknown:
        raise ValidationError({sorted(unknown)[0]: "This field cannot be changed here."})
    for name, value in data.items():
        setattr(locked, name, value.strip() if name == "name" else value)
    locked.full_clean()
    locked.save()
    _check_scope_ownership(locked.organization, sites, device_types)
    scope_before = (
        sorted(locked.sites.values_list("pk", flat=True)),
        sorted(locked.device_types.values_list("pk", flat=True)),
    )
    if sites is not None:
        locked.sites.set(sites)
    if device_types is not None:
        locked.device_types.set(device_types)
    scope_after = (
        sorted(locked.sites.values_list("pk", flat=True)),
        sorted(locked.device_types.values_list("pk", flat=True)),
    )
    changes = diff(before, snapshot(locked))
    if scope_after != scope_before:
        changes["scope"] = [scope_before, scope_after]
    record_audit("compliance.assessment.update", actor=actor, obj=locked, changes=changes)
    if scope_after != scope_before:
        apply_latest_checks(locked, actor=actor)
    _publish("compliance.assessment_updated", locked, {"fields": sorted(changes)})
    return locked


@transaction.atomic
def change_status(assessment, status, *, actor):
    """Move an assessment draft -> in progress -> completed (and back to reopen)."""
    ensure_permitted(actor, "change", assessment)
    locked = Assessment.objects.select_for_update().get(pk=assessment.pk)
    if status not in AssessmentStatus.values:
        raise ValidationError({"status": f"Unknown status {status!r}."})
    if status not in ASSESSMENT_TRANSITIONS[locked.status]:
        options = ", ".join(
            AssessmentStatus(s).label for s in sorted(ASSESSMENT_TRANSITIONS[locked.status])
        )
        raise ValidationError(
            {"status": f"A {locked.get_status_display().lower()} assessment can become: {options}."}
        )
    before = locked.status
    now = timezone.now()
    locked.status = status
    if status == AssessmentStatus.IN_PROGRESS and locked.started_at is None:
        locked.started_at = now
    locked.completed_at = now if status == AssessmentStatus.COMPLETED else None
    locked.save(update_fields=["status", "started_at", "completed_at", "updated_at"])
    record_audit(
        "compliance.assessment.status",
        actor=actor,
        obj=locked,
        changes={"status": [before, status]},
    )
    _publish("compliance.assessment_status", locked, {"status": status})
    if status == AssessmentStatus.COMPLETED:
        record_snapshots(locked, reason="completed")
    return locked


@transaction.atomic
def delete_assessment(assessment, *, actor):
    ensure_permitted(actor, "delete", assessment)
    locked = Assessment.objects.select_for_update().get(pk=assessment.pk)
    org, pk, name = locked.organization, locked.pk, locked.name
    record_audit(
        "compliance.assessment.delete",
        actor=actor,
        obj=locked,
        changes={"before": snapshot(locked), "results": locked.results.count()},
    )
    locked.delete()
    record_event("compliance.assessment_deleted", organization=org, payload={"assessment": pk})
    return name


@transaction.atomic
def set_result(result, *, actor, result_value, notes=None, justification=None, owner=None):
    """A person sets a requirement's result (this overrides the checks until reverted)."""
    ensure_permitted(actor, "view", result)
    ensure_permitted(actor, "assess", result.assessment)
    locked = RequirementResult.objects.select_for_update().get(pk=result.pk)
    if locked.assessment.status == AssessmentStatus.COMPLETED:
        raise ValidationError({"result": "The assessment is completed; reopen it to change it."})
    if result_value not in Result.values:
        raise ValidationError({"result": f"Unknown result {result_value!r}."})
    before = snapshot(locked)
    if notes is not None:
        locked.notes = notes
    if justification is not None:
        locked.justification = justification.strip()
    if owner is not None:
        if not owner.memberships.filter(organization_id=locked.organization_id).exists():
            raise ValidationError({"owner": "The owner must be a member of the organization."})
        locked.owner = owner
    if result_value == Result.NOT_APPLICABLE and not locked.justification:
        raise ValidationError(
            {"justification": "Say why the requirement does not apply (EN 303 645 asks for it)."}
        )
    overriding = locked.suggested_result and result_value != locked.suggested_result
    if overriding and not locked.justification:
        raise ValidationError(
            {
                "justification": "The automated checks suggest "
                f"{Result(locked.suggested_result).label.lower()}; say why you differ."
            }
        )
    locked.result = result_value
    locked.source = ResultSource.MANUAL
    locked.updated_by = user_or_none(actor)
    locked.save()
    changes = diff(before, snapshot(locked))
    record_audit("compliance.result.update", actor=actor, obj=locked, changes=changes)
    _publish(
        "compliance.result_changed",
        locked.assessment,
        {"requirement": locked.requirement.ref, "result": locked.result, "source": locked.source},
    )
    return locked


@transaction.atomic
def revert_to_checks(result, *, actor):
    """Hand a manually set result back to the automated checks."""
    ensure_permitted(actor, "view", result)
    ensure_permitted(actor, "assess", result.assessment)
    locked = RequirementResult.objects.select_for_update().get(pk=result.pk)
    if not locked.suggested_result:
        raise ValidationError({"source": "No automated check serves this requirement."})
    before = snapshot(locked)
    locked.source = ResultSource.CHECK
    locked.result = locked.suggested_result
    locked.updated_by = user_or_none(actor)
    locked.save()
    record_audit(
        "compliance.result.revert",
        actor=actor,
        obj=locked,
        changes=diff(before, snapshot(locked)),
    )
    _publish(
        "compliance.result_changed",
        locked.assessment,
        {"requirement": locked.requirement.ref, "result": locked.result, "source": locked.source},
    )
    return locked


# --- following the checks ---------------------------------------------------------------------


def apply_latest_checks(assessment, *, actor, runs=None):
    """Recompute suggested results from the latest check runs; results following the checks take
    them. Returns the number of results that changed."""
    if not assessment.is_live:
        return 0
    runs = latest_runs(assessment.organization) if runs is None else runs
    index = checks_by_requirement(assessment.framework.code)
    site_ids, type_ids = scope_of(assessment)
    changed = []
    rows = assessment.results.select_related("requirement").select_for_update(of=("self",))
    for row in rows:
        suggested = suggestion(index.get(row.requirement.ref, ()), runs, site_ids, type_ids)
        new_result = row.result
        if row.source == ResultSource.CHECK:
            new_result = suggested or Result.NOT_ASSESSED
        if suggested != row.suggested_result or new_result != row.result:
            changed.append((row, row.result, new_result))
            row.suggested_result = suggested
            row.result = new_result
            row.updated_at = timezone.now()
    if changed:
        RequirementResult.objects.bulk_update(
            [row for row, _old, _new in changed], ["suggested_result", "result", "updated_at"]
        )
        moved = {row.requirement.ref: [old, new] for row, old, new in changed if old != new}
        if moved:
            record_audit(
                "compliance.result.follow_checks",
                actor=actor,
                obj=assessment,
                changes={"results": moved},
            )
    return len(changed)
