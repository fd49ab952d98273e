"""Risks: create, assess (inherent and residual), treat, accept, revoke, review and close.

The rules, in one place:

* likelihood and impact are values on the risk's matrix; the level is looked up in its grid and
  stored (``inherent_level`` / ``residual_level``) so the register filters and sorts in SQL;
* residual likelihood and impact may not exceed the inherent ones (controls only reduce risk);
* only a risk whose treatment is "accept" can be accepted, only by a member holding the Security
  officer role in the organization, with a justification and an expiry (at most
  ``RISK_MAX_ACCEPTANCE_DAYS`` ahead, default 365); an accepted risk whose expiry has passed is
  "acceptance expired" until it is accepted again or revoked;
* an accepted risk cannot be reassessed or change treatment: revoke the acceptance first;
* a risk closes only with a reason and no open mitigations.
"""

import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .. import matrix as matrix_data
from ..choices import MITIGATION_OPEN, RiskStatus, Treatment
from ..models import Risk, RiskSequence
from ..models.common import ACCEPTERS
from .common import (
    NotPermitted,
    ValidationError,
    check_member,
    check_same_org,
    ensure_can_create,
    ensure_permitted,
    record,
    roles_in,
    snapshot,
)
from .matrices import default_matrix

EDITABLE_FIELDS = (
    "title",
    "scenario",
    "source",
    "current_controls",
    "owner",
    "treatment",
    "review_due_on",
)
RELATION_FIELDS = {"assets": "assets", "threats": "threats", "vulnerabilities": "vulnerabilities"}


def max_acceptance_days():
    return int(getattr(settings, "RISK_MAX_ACCEPTANCE_DAYS", 365))


def _next_reference(organization):
    RiskSequence.objects.get_or_create(organization=organization)
    seq = RiskSequence.objects.select_for_update().get(organization=organization)
    seq.last += 1
    seq.save(update_fields=["last"])
    return f"RSK-{seq.last:03d}"


def _check_relations(organization, relations):
    for field, objects in relations.items():
        check_same_org(organization, field, objects, allow_shared=(field == "threats"))


def _grade(risk):
    """Recompute the stored levels from the matrix; enforce residual <= inherent."""
    matrix = risk.matrix
    matrix_data.check_point(
        matrix,
        risk.inherent_likelihood,
        risk.inherent_impact,
        fields=("inherent_likelihood", "inherent_impact"),
    )
    risk.inherent_level = matrix_data.level_for(
        matrix, risk.inherent_likelihood, risk.inherent_impact
    )
    residual = (risk.residual_likelihood, risk.residual_impact)
    if residual == (None, None):
        risk.residual_level = ""
        return
    if None in residual:
        raise ValidationError(
            {"residual_likelihood": "Give both residual likelihood and residual impact."}
        )
    matrix_data.check_point(matrix, *residual, fields=("residual_likelihood", "residual_impact"))
    errors = {}
    if risk.residual_likelihood > risk.inherent_likelihood:
        errors["residual_likelihood"] = (
            f"Residual likelihood ({risk.residual_likelihood}) cannot exceed the inherent "
            f"likelihood ({risk.inherent_likelihood})."
        )
    if risk.residual_impact > risk.inherent_impact:
        errors["residual_impact"] = (
            f"Residual impact ({risk.residual_impact}) cannot exceed the inherent impact "
            f"({risk.inherent_impact})."
        )
    if errors:
        raise ValidationError(errors)
    risk.residual_level = matrix_data.level_for(matrix, *residual)


@transaction.atomic
def create_risk(
    *,
    actor,
    organization,
    title,
    likelihood,
    impact,
    description="",
    scenario="",
    owner=None,
    source="",
    current_controls="",
    treatment=Treatment.MITIGATE,
    review_due_on=None,
    assets=(),
    threats=(),
    vulnerabilities=(),
    residual_likelihood=None,
    residual_impact=None,
    matrix=None,
    system=False,
):
    """Add a risk to ``organization``'s register and return it (reference RSK-nnn).

    ``scenario`` (or its synonym ``description``) says what could happen. ``source`` records
    where the risk came from (``"incident INC-2026-0004"``). A platform caller (a job, a
    post-incident review run without a user) passes ``system=True`` and a string ``actor``.
    """
    if not system:
        ensure_can_create(actor, Risk, organization)
    matrix = matrix or default_matrix(organization)
    if matrix.organization_id != organization.pk:
        raise ValidationError({"matrix": "Must belong to the same organization."})
    check_member(organization, "owner", owner)
    relations = {
        "assets": list(assets),
        "threats": list(threats),
        "vulnerabilities": list(vulnerabilities),
    }
    _check_relations(organization, relations)
    if treatment not in Treatment.values:
        raise ValidationError({"treatment": f"Choose one of {', '.join(Treatment.values)}."})
    risk = Risk(
        organization=organization,
        title=title,
        scenario=scenario or description,
        source=source,
        matrix=matrix,
        inherent_likelihood=likelihood,
        inherent_impact=impact,
        residual_likelihood=residual_likelihood,
        residual_impact=residual_impact,
        current_controls=current_controls,
        owner=owner,
        treatment=treatment,
        review_due_on=review_due_on,
    )
    _grade_named(risk)
    risk.reference = "RSK-000"  # placeholder for full_clean; the real one is issued below
    risk.full_clean(exclude=["reference"], validate_constraints=False)
    risk.reference = _next_reference(organization)
    risk.save()
    for field, objects in relations.items():
        getattr(risk, field).set(objects)
    record(
        "create",
        risk,
        actor=actor,
        extra={field: sorted(o.pk for o in objs) for field, objs in relations.items() if objs},
        payload={"reference": risk.reference, "level": risk.inherent_level},
    )
    return risk


def _grade_named(risk):
    """``_grade`` with errors named after the create_risk keywords (likelihood / impact)."""
    try:
        _grade(risk)
    except ValidationError as exc:
        renamed = {
            {"inherent_likelihood": "likelihood", "inherent_impact": "impact"}.get(k, k): v
            for k, v in exc.message_dict.items()
        }
        raise ValidationError(renamed) from exc


def _lock(risk):
    return Risk.objects.select_for_update().select_related("matrix").get(pk=risk.pk)


def _refuse_if_accepted(locked, what):
    if locked.status == RiskStatus.ACCEPTED:
        raise ValidationError(
            {
                what: "This risk is accepted; revoke the acceptance before changing its assessment "
                "or treatment."
            }
        )


def _refuse_if_closed(locked):
    if locked.status == RiskStatus.CLOSED:
        raise ValidationError({"status": "This risk is closed; reopen it first."})


@transaction.atomic
def update_risk(risk, *, actor, likelihood=None, impact=None, **fields):
    """Change a risk's text, owner, treatment, review date, links or inherent assessment."""
    ensure_permitted(actor, "change", risk)
    locked = _lock(risk)
    _refuse_if_closed(locked)
    unknown = set(fields) - set(EDITABLE_FIELDS) - set(RELATION_FIELDS)
    if unknown:
        raise ValidationError({name: "This field cannot be changed here." for name in unknown})
    before = snapshot(locked)
    organization = locked.organization
    if "owner" in fields:
        check_member(organization, "owner", fields["owner"])
    reassessed = (likelihood is not None and likelihood != locked.inherent_likelihood) or (
        impact is not None and impact != locked.inherent_impact
    )
    if reassessed:
        _refuse_if_accepted(locked, "likelihood")
    if "treatment" in fields and fields["treatment"] != locked.treatment:
        _refuse_if_accepted(locked, "treatment")
    relations = {k: list(fields.pop(k)) for k in list(fields) if k in RELATION_FIELDS}
    _check_relations(organization, relations)
    for name, value in fields.items():
        setattr(locked, name, value)
    if likelihood is not None:
        locked.inherent_likelihood = likelihood
    if impact is not None:
        locked.inherent_impact = impact
    _grade_named(locked)
    locked.full_clean(validate_constraints=False)
    locked.save()
    extra = {}
    for field, objects in relations.items():
        old = sorted(getattr(locked, field).values_list("pk", flat=True))
        getattr(locked, field).set(objects)
        new = sorted(o.pk for o in objects)
        if old != new:
            extra[field] = [old, new]
    record("update", locked, actor=actor, before=before, extra=extra)
    return locked


@transaction.atomic
def assess_residual(risk, *, actor, likelihood, impact, current_controls=None):
    """Record the residual likelihood and impact after the current controls."""
    ensure_permitted(actor, "change", risk)
    locked = _lock(risk)
    _refuse_if_closed(locked)
    if (likelihood, impact) != (locked.residual_likelihood, locked.residual_impact):
        _refuse_if_accepted(locked, "residual_likelihood")
    before = snapshot(locked)
    locked.residual_likelihood = likelihood
    locked.residual_impact = impact
    if current_controls is not None:
        locked.current_controls = current_controls
    _grade(locked)
    locked.save()
    record(
        "assess_residual",
        locked,
        actor=actor,
        before=before,
        payload={"residual_level": locked.residual_level},
    )
    return locked


@transaction.atomic
def accept_risk(risk, *, actor, justification, expires_at):
    """Accept a risk (treatment "accept") until ``expires_at``; renewing an acceptance is allowed.

    Only a member holding the Security officer role in the risk's organization may accept.
    """
    ensure_permitted(actor, "view", risk)
    locked = _lock(risk)
    if not set(roles_in(actor, locked.organization)) & set(ACCEPTERS):
        raise NotPermitted("Only a Security officer of this organization may accept a risk.")
    _refuse_if_closed(locked)
    errors = {}
    if locked.treatment != Treatment.ACCEPT:
        errors["treatment"] = (
            f'Only a risk with treatment "accept" can be accepted; this one is '
            f'"{locked.get_treatment_display().lower()}".'
        )
    if not (justification or "").strip():
        errors["justification"] = "Say why the risk is acceptable."
    now = timezone.now()
    if isinstance(expires_at, datetime.date) and not isinstance(expires_at, datetime.datetime):
        expires_at = timezone.make_aware(
            datetime.datetime.combine(expires_at, datetime.time(23, 59, 59))
        )
    if expires_at is None:
        errors["expires_at"] = "An acceptance needs an expiry date."
    elif expires_at <= now:
        errors["expires_at"] = "The expiry must be in the future."
    elif expires_at > now + datetime.timedelta(days=max_acceptance_days()):
        errors["expires_at"] = (
            f"An acceptance lasts at most {max_acceptance_days()} days; review it again then."
        )
    if errors:
        raise ValidationError(errors)
    before = snapshot(locked)
    renewed = locked.status == RiskStatus.ACCEPTED
    locked.status = RiskStatus.ACCEPTED
    locked.accepted_by = actor
    locked.accepted_at = now
    locked.acceptance_expires_at = expires_at
    locked.acceptance_justification = justification.strip()
    locked.save()
    record(
        "accept",
        locked,
        actor=actor,
        before=before,
        extra={"renewed": renewed},
        payload={"expires_at": expires_at.isoformat(), "level": locked.current_level},
    )
    return locked


@transaction.atomic
def revoke_acceptance(risk, *, actor, reason):
    """End an acceptance (current or expired): the risk is open again."""
    ensure_permitted(actor, "change", risk)
    locked = _lock(risk)
    if locked.status != RiskStatus.ACCEPTED:
        raise ValidationError({"status": "This risk is not accepted."})
    if not (reason or "").strip():
        raise ValidationError({"reason": "Say why the acceptance ends."})
    before = snapshot(locked)
    locked.status = RiskStatus.OPEN
    locked.accepted_by = None
    locked.accepted_at = None
    locked.acceptance_expires_at = None
    locked.acceptance_justification = ""
    locked.save()
    record("revoke_acceptance", locked, actor=actor, before=before, extra={"reason": reason})
    return locked


@transaction.atomic
def mark_reviewed(risk, *, actor, next_review_on, note=""):
    """Record that the risk was reviewed, and when it is next due."""
    ensure_permitted(actor, "change", risk)
    locked = _lock(risk)
    _refuse_if_closed(locked)
    today = timezone.localdate()
    if next_review_on is None or next_review_on <= today:
        raise ValidationError({"next_review_on": "The next review must be after today."})
    before = snapshot(locked)
    locked.last_reviewed_at = timezone.now()
    locked.review_due_on = next_review_on
    locked.save()
    record("review", locked, actor=actor, before=before, extra={"note": note})
    return locked


@transaction.atomic
def close_risk(risk, *, actor, reason):
    """Close a risk that no longer applies (asset retired, threat gone, treatment complete)."""
    ensure_permitted(actor, "change", risk)
    locked = _lock(risk)
    _refuse_if_closed(locked)
    if not (reason or "").strip():
        raise ValidationError({"reason": "Say why the risk is closed."})
    still_open = locked.mitigations.filter(status__in=MITIGATION_OPEN).count()
    if still_open:
        raise ValidationError(
            {"mitigations": f"{still_open} mitigation(s) are still open; finish or cancel them."}
        )
    before = snapshot(locked)
    locked.status = RiskStatus.CLOSED
    locked.closed_at = timezone.now()
    locked.closure_reason = reason.strip()
    locked.accepted_by = None
    locked.accepted_at = None
    locked.acceptance_expires_at = None
    locked.acceptance_justification = ""
    locked.save()
    record("close", locked, actor=actor, before=before)
    return locked


@transaction.atomic
def reopen_risk(risk, *, actor, reason):
    ensure_permitted(actor, "change", risk)
    locked = _lock(risk)
    if locked.status != RiskStatus.CLOSED:
        raise ValidationError({"status": "Only a closed risk can be reopened."})
    if not (reason or "").strip():
        raise ValidationError({"reason": "Say why the risk is reopened."})
    before = snapshot(locked)
    locked.status = RiskStatus.OPEN
    locked.closed_at = None
    locked.closure_reason = ""
    locked.save()
    record("reopen", locked, actor=actor, before=before, extra={"reason": reason})
    return locked


@transaction.atomic
def delete_risk(risk, *, actor):
    """Delete a risk recorded in error (the audit entry keeps its last state)."""
    ensure_permitted(actor, "delete", risk)
    locked = _lock(risk)
    if locked.status == RiskStatus.ACCEPTED:
        raise ValidationError({"status": "Revoke the acceptance first."})
    if locked.mitigations.exists():
        raise ValidationError(
            {"mitigations": "This risk has a treatment plan; close the risk instead of deleting."}
        )
    record("delete", locked, actor=actor, extra={"before": snapshot(locked)}, event=False)
    pk = locked.pk
    locked.delete()
    return pk
