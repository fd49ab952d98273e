"""The incident report for regulators and management: a self-contained, printable HTML file, the
same as a PDF made on the server (``encompass.documents``, its SHA-256 in the audit trail), and
a Markdown file (plain text a person can file or paste into a ticket). Every export is audited."""

from django.template.loader import render_to_string
from django.utils import timezone

from encompass.audit.services import actor_label, record_audit

from ..choices import CSF_TITLES, PHASE_CSF, Phase
from .common import ensure_incident_permitted
from .sla import sla_status

FORMATS = {
    "html": ("text/html; charset=utf-8", "html"),
    "md": ("text/markdown; charset=utf-8", "md"),
    "pdf": ("application/pdf", "pdf"),
}


def report_context(incident, *, actor):
    incident = (
        type(incident)
        .objects.select_related("organization", "assignee", "playbook")
        .prefetch_related("responders", "affected_devices__site", "affected_sites", "source_alerts")
        .get(pk=incident.pk)
    )
    phases = [
        {
            "phase": p,
            "label": Phase(p).label,
            "csf": [(c, CSF_TITLES[c]) for c in PHASE_CSF[Phase(p)]],
        }
        for p in Phase.values
        if PHASE_CSF[Phase(p)]
    ]
    return {
        "incident": incident,
        "timeline": list(incident.timeline.order_by("at", "pk")),
        "actions": list(incident.containment_actions.order_by("performed_at", "pk")),
        "tasks": list(
            incident.tasks.select_related("owner", "done_by").order_by("phase", "order", "pk")
        ),
        "review": getattr(incident, "review", None),
        "follow_ups": list(incident.follow_up_actions.select_related("owner")),
        "risks": list(incident.created_risks.all()),
        "sla": sla_status(incident),
        "breaches": {b.metric for b in incident.sla_breaches.all()},
        "phases": phases,
        "generated_at": timezone.now(),
        "generated_by": actor_label(actor),
    }


def render_report(incident, fmt, *, actor):
    context = report_context(incident, actor=actor)
    if fmt == "pdf":
        from encompass.documents import render_pdf

        html = render_to_string("incidents/report.html", context)
        return render_pdf(
            html,
            organization=incident.organization,
            title=f"Incident report {incident.reference}",
            generated_at=context["generated_at"],
        )
    template = "incidents/report.html" if fmt == "html" else "incidents/report.md"
    return render_to_string(template, context)


def export_report(incident, fmt, *, actor):
    """``(content, content_type, filename)``; audited as ``incidents.incident.export``."""
    ensure_incident_permitted(actor, "export", incident)
    if fmt not in FORMATS:
        from encompass.exceptions import ValidationError

        raise ValidationError({"as": f"Choose one of {sorted(FORMATS)}."})
    content = render_report(incident, fmt, actor=actor)
    record_audit("incidents.incident.export", actor=actor, obj=incident, changes={"format": fmt})
    if fmt == "pdf":
        from encompass.documents import record_document

        record_document(
            content,
            kind="incident_report",
            title=f"Incident report {incident.reference}",
            actor=actor,
            obj=incident,
            organization=incident.organization,
        )
    content_type, ext = FORMATS[fmt]
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    return content, content_type, f"{incident.organization.slug}-{incident.reference}-{stamp}.{ext}"
