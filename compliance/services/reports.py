"""Reports an auditor files: the statement of applicability and the assessment report, as
printable HTML (self-contained: styles inlined, no external resource), CSV and JSON.

Every export is audited (``compliance.assessment.export`` with the format and the row count).
"""

import io
import json

from django.template.loader import render_to_string
from django.utils import timezone

from encompass import spreadsheet
from encompass.audit.services import record_audit
from encompass.exceptions import ValidationError
from encompass.tenancy.access import ensure_permitted

from ..choices import EvidenceState, ExportFormat, ReportKind, Result
from .evidence import evidence_for, evidence_state
from .scoring import compute_score

COLUMNS = {
    ReportKind.SOA: [
        "ref",
        "title",
        "obligation",
        "applicable",
        "justification",
        "implementation",
        "source",
        "evidence",
        "evidence_state",
    ],
    ReportKind.ASSESSMENT: [
        "ref",
        "title",
        "obligation",
        "result",
        "source",
        "suggested_result",
        "owner",
        "notes",
        "justification",
        "evidence",
        "evidence_state",
        "updated_at",
    ],
}


def _evidence_ref(e):
    if e.kind == "file":
        return f"{e.title} (file sha256:{e.sha256[:16]}, valid until {_date(e.valid_until)})"
    if e.kind == "link":
        return f"{e.title} ({e.url}, valid until {_date(e.valid_until)})"
    return f"{e.title} (check run #{e.check_run_id}, valid until {_date(e.valid_until)})"


def _date(value):
    return value.isoformat(timespec="minutes") if value else "no expiry"


def report_rows(assessment, kind=ReportKind.ASSESSMENT):
    """One dict per assessable requirement, in document order."""
    results = list(
        assessment.results.select_related("requirement", "owner").order_by("requirement__order")
    )
    evidence = evidence_for(assessment, [r.requirement_id for r in results])
    now = timezone.now()
    rows = []
    for r in results:
        items = evidence.get(r.requirement_id, [])
        state = evidence_state(items, now)
        common = {
            "ref": r.requirement.ref,
            "title": r.requirement.title,
            "obligation": r.requirement.obligation,
            "source": r.source,
            "justification": r.justification,
            "evidence": "; ".join(_evidence_ref(e) for e in items),
            "evidence_state": EvidenceState(state).value,
        }
        if kind == ReportKind.SOA:
            rows.append(
                {
                    **common,
                    "applicable": "no" if r.result == Result.NOT_APPLICABLE else "yes",
                    "implementation": Result(r.result).label,
                }
            )
        else:
            rows.append(
                {
                    **common,
                    "result": r.result,
                    "suggested_result": r.suggested_result,
                    "owner": r.owner.get_username() if r.owner else "",
                    "notes": r.notes,
                    "updated_at": r.updated_at.isoformat(timespec="seconds"),
                }
            )
    return rows


def render_report(assessment, kind, fmt, rows=None):
    """The report as text in ``fmt`` (csv / json / html); returns ``(body, rows)``."""
    rows = report_rows(assessment, kind) if rows is None else rows
    columns = COLUMNS[kind]
    if fmt == ExportFormat.CSV:
        buffer = io.StringIO()
        writer = spreadsheet.dict_writer(buffer, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)  # formula cells neutralised (CSV injection)
        return buffer.getvalue(), rows
    score = compute_score(assessment)
    meta = {
        "organization": assessment.organization.name,
        "assessment": assessment.name,
        "framework": f"{assessment.framework.name} {assessment.framework.version}",
        "framework_revision": assessment.framework.data_revision,
        "framework_verified_on": (
            assessment.framework.verified_on.isoformat()
            if assessment.framework.verified_on
            else None
        ),
        "status": assessment.status,
        "generated_at": timezone.now().isoformat(timespec="seconds"),
        "report": ReportKind(kind).label,
        "score": score.score,
        "mandatory_score": score.mandatory_score,
        "counts": score.counts,
    }
    if fmt == ExportFormat.JSON:
        return json.dumps({"meta": meta, "rows": rows}, indent=2, default=str), rows
    if fmt in (ExportFormat.HTML, ExportFormat.PDF):
        body = render_to_string(
            "compliance/report_document.html",
            {
                "assessment": assessment,
                "meta": meta,
                "rows": rows,
                "kind": kind,
                "columns": columns,
                "score": score,
                "standalone": True,
            },
        )
        if fmt == ExportFormat.PDF:
            from encompass.documents import render_pdf

            body = render_pdf(
                body,
                organization=assessment.organization,
                title=f"{ReportKind(kind).label}: {assessment.framework.name}",
            )
        return body, rows
    raise ValidationError({"format": f"Unknown format {fmt!r}; use csv, json, html or pdf."})


def export_report(assessment, *, actor, kind=ReportKind.ASSESSMENT, fmt=ExportFormat.CSV):
    """Render a report for download and audit the export."""
    if kind not in ReportKind.values:
        raise ValidationError({"report": f"Unknown report {kind!r}; use assessment or soa."})
    if fmt not in ExportFormat.values:
        raise ValidationError({"format": f"Unknown format {fmt!r}; use csv, json, html or pdf."})
    ensure_permitted(actor, "export", assessment)
    body, rows = render_report(assessment, kind, fmt)
    record_audit(
        "compliance.assessment.export",
        actor=actor,
        obj=assessment,
        changes={"format": fmt, "report": kind, "rows": len(rows)},
    )
    if fmt == ExportFormat.PDF:
        from encompass.documents import record_document

        record_document(
            body,
            kind=f"compliance_{kind}",
            title=f"{ReportKind(kind).label}: {assessment.framework.name}",
            actor=actor,
            obj=assessment,
            organization=assessment.organization,
        )
    return body


CONTENT_TYPES = {
    ExportFormat.CSV: "text/csv; charset=utf-8",
    ExportFormat.JSON: "application/json",
    ExportFormat.HTML: "text/html; charset=utf-8",
    ExportFormat.PDF: "application/pdf",
}


def filename_for(assessment, kind, fmt):
    stamp = timezone.now().strftime("%Y%m%d")
    slug = "".join(c if c.isalnum() else "-" for c in assessment.name.lower()).strip("-")[:60]
    return f"{slug}-{kind}-{stamp}.{fmt}"
