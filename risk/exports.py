"""Exports of the register (CSV and the printable report); every export is audited."""

from django.utils import timezone

from encompass.audit.services import record_audit

from .matrix import level_info

EXPORT_COLUMNS = (
    "Reference",
    "Title",
    "Scenario",
    "Source",
    "Assets",
    "Threats",
    "Vulnerabilities",
    "Inherent likelihood",
    "Inherent impact",
    "Inherent level",
    "Current controls",
    "Residual likelihood",
    "Residual impact",
    "Residual level",
    "Owner",
    "Treatment",
    "Status",
    "Review due",
    "Accepted by",
    "Acceptance expires",
    "Open mitigations",
)


def _user(user):
    return (user.get_full_name() or user.get_username()) if user else ""


def export_rows(risks):
    """Header plus one row per risk (queries do not grow with the number of risks)."""
    from .choices import MITIGATION_OPEN

    risks = risks.select_related("matrix", "owner", "accepted_by").prefetch_related(
        "assets", "threats", "vulnerabilities", "mitigations"
    )
    rows = [list(EXPORT_COLUMNS)]
    for r in risks:
        rows.append(
            [
                r.reference,
                r.title,
                r.scenario,
                r.source,
                "; ".join(a.name for a in r.assets.all()),
                "; ".join(t.name for t in r.threats.all()),
                "; ".join(v.identifier for v in r.vulnerabilities.all()),
                r.inherent_likelihood,
                r.inherent_impact,
                level_info(r.matrix, r.inherent_level)["label"],
                r.current_controls,
                r.residual_likelihood or "",
                r.residual_impact or "",
                level_info(r.matrix, r.residual_level)["label"] if r.residual_level else "",
                _user(r.owner),
                r.get_treatment_display(),
                r.get_effective_status_display(),
                r.review_due_on.isoformat() if r.review_due_on else "",
                _user(r.accepted_by),
                r.acceptance_expires_at.isoformat() if r.acceptance_expires_at else "",
                sum(1 for m in r.mitigations.all() if m.status in MITIGATION_OPEN),
            ]
        )
    return rows  # written with encompass.spreadsheet, which neutralises formula cells


def record_export(user, risks, *, fmt, query="", organization=None):
    """Audit an export: who, which format, which filter, how many risks."""
    orgs = {organization} if organization is not None else None
    if orgs is None:
        orgs = {r.organization for r in risks.select_related("organization")} or {None}
    count = risks.count()
    for org in orgs:
        record_audit(
            "risk.register.export",
            actor=user,
            organization=org,
            object_repr=f"risk register ({fmt})",
            changes={
                "format": fmt,
                "filter": query,
                "risks": count,
                "at": timezone.now().isoformat(),
            },
        )
