"""Exporting the audit trail (CSV / JSON). Every export is itself audited."""

import io
import json

from encompass import spreadsheet

from .services import record_audit

EXPORT_FIELDS = [
    "sequence",
    "created_at",
    "actor_label",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "changes",
    "ip",
    "channel",
    "request_id",
    "entry_hash",
]


def export_entries(queryset, *, actor, organization, fmt="csv", limit=100_000):
    """Render entries as CSV or JSON text and audit the export against ``organization``."""
    rows = list(queryset.order_by("chain", "sequence")[:limit])
    if fmt == "json":
        body = json.dumps(
            [
                {
                    f: (getattr(e, f).isoformat() if f == "created_at" else getattr(e, f))
                    for f in EXPORT_FIELDS
                }
                for e in rows
            ],
            indent=2,
            default=str,
        )
    else:
        buffer = io.StringIO()
        writer = spreadsheet.writer(buffer)
        writer.writerow(EXPORT_FIELDS)
        for e in rows:
            writer.writerow(
                [
                    e.created_at.isoformat()
                    if f == "created_at"
                    else json.dumps(e.changes, sort_keys=True)
                    if f == "changes"
                    else getattr(e, f)
                    for f in EXPORT_FIELDS
                ]
            )
        body = buffer.getvalue()
    record_audit(
        "audit.export",
        actor=actor,
        organization=organization,
        object_repr=f"{len(rows)} audit entries as {fmt}",
        changes={"format": fmt, "rows": len(rows)},
    )
    return body
