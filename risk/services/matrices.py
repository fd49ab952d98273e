"""Risk matrices: the default one per organization, and validated changes that re-grade risks."""

from django.db import IntegrityError, transaction

from .. import matrix as matrix_data
from ..models import Risk, RiskMatrix
from .common import ValidationError, ensure_can_create, ensure_permitted, record, snapshot


def default_matrix(organization):
    """The organization's default matrix, made from ``data/risk-matrix-5x5.json`` on first use."""
    found = RiskMatrix.objects.filter(organization=organization, is_default=True).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            created = RiskMatrix(
                organization=organization,
                name=matrix_data.default_name(),
                description="Created from the shipped 5×5 definition.",
                definition=matrix_data.default_definition(),
                is_default=True,
            )
            created.full_clean()
            created.save()
            record("create", created, actor="system", event=False)
            return created
    except IntegrityError:  # a concurrent first use created it
        return RiskMatrix.objects.get(organization=organization, is_default=True)


@transaction.atomic
def create_matrix(*, actor, organization, name, definition, description="", is_default=False):
    ensure_can_create(actor, RiskMatrix, organization)
    matrix = RiskMatrix(
        organization=organization,
        name=name,
        description=description,
        definition=definition,
        is_default=False,
    )
    matrix.full_clean()
    matrix.save()
    record("create", matrix, actor=actor)
    if is_default:
        matrix = set_default_matrix(matrix, actor=actor)
    return matrix


@transaction.atomic
def set_default_matrix(matrix, *, actor):
    ensure_permitted(actor, "change", matrix)
    for current in (
        RiskMatrix.objects.select_for_update()
        .filter(organization_id=matrix.organization_id, is_default=True)
        .exclude(pk=matrix.pk)
    ):
        before = snapshot(current)
        current.is_default = False
        current.save(update_fields=["is_default", "updated_at"])
        record("update", current, actor=actor, before=before, event=False)
    locked = RiskMatrix.objects.select_for_update().get(pk=matrix.pk)
    before = snapshot(locked)
    locked.is_default = True
    locked.save(update_fields=["is_default", "updated_at"])
    record("update", locked, actor=actor, before=before)
    return locked


@transaction.atomic
def update_matrix(matrix, *, actor, name=None, description=None, definition=None):
    """Change a matrix; a new definition re-grades every risk on it (refused if one falls off)."""
    ensure_permitted(actor, "change", matrix)
    locked = RiskMatrix.objects.select_for_update().get(pk=matrix.pk)
    before = snapshot(locked)
    if name is not None:
        locked.name = name
    if description is not None:
        locked.description = description
    if definition is not None:
        matrix_data.validate_definition(definition)
        locked.definition = definition
    locked.full_clean()
    regraded = 0
    if definition is not None:
        risks = list(Risk.objects.select_for_update().filter(matrix=locked))
        max_l, max_i = len(definition["likelihood"]), len(definition["impact"])
        off = [
            r.reference
            for r in risks
            if max(r.inherent_likelihood, r.residual_likelihood or 0) > max_l
            or max(r.inherent_impact, r.residual_impact or 0) > max_i
        ]
        if off:
            raise ValidationError(
                {
                    "definition": f"Risks {', '.join(off[:10])} use likelihood or impact values "
                    "the new scales do not have; reassess them first."
                }
            )
        locked.save()
        for risk in risks:
            regraded += _regrade(risk, locked, actor)
    else:
        locked.save()
    record("update", locked, actor=actor, before=before, extra={"regraded": regraded})
    return locked


def _regrade(risk, matrix, actor):
    """Recompute stored levels of a (locked) risk after its matrix changed; 1 if they moved."""
    before = snapshot(risk)
    risk.inherent_level = matrix_data.level_for(
        matrix, risk.inherent_likelihood, risk.inherent_impact
    )
    risk.residual_level = (
        matrix_data.level_for(matrix, risk.residual_likelihood, risk.residual_impact)
        if risk.residual_likelihood
        else ""
    )
    if snapshot(risk) == before:
        return 0
    risk.save(update_fields=["inherent_level", "residual_level", "updated_at"])
    record("regrade", risk, actor=actor, before=before, event=False)
    return 1


@transaction.atomic
def delete_matrix(matrix, *, actor):
    ensure_permitted(actor, "delete", matrix)
    locked = RiskMatrix.objects.select_for_update().get(pk=matrix.pk)
    if locked.is_default:
        raise ValidationError({"is_default": "Make another matrix the default first."})
    if locked.risks.exists():
        raise ValidationError({"matrix": "Risks are assessed on this matrix; it cannot go."})
    record("delete", locked, actor=actor, extra={"before": snapshot(locked)})
    pk = locked.pk
    locked.delete()
    return pk
