"""The device history as a document: lifecycle, certificates, firmware and incidents of one
device, as a PDF made on the server (``encompass.documents``, docs/reports.md).

Each section is read through ``restrict()`` for the person asking, so the document never shows
what its reader could not open in the web UI.
"""

from django.template.loader import render_to_string
from django.utils import timezone

from encompass.audit.services import actor_label
from encompass.documents import record_document, render_pdf
from encompass.tenancy.access import ensure_permitted

STYLE = """
body { font-family: sans-serif; color: #1c2430; font-size: 9.5pt; line-height: 1.4; }
h1 { font-size: 16pt; margin: 0 0 2pt 0; } h2 { font-size: 11.5pt; margin-top: 16pt;
  border-bottom: 1px solid #dde3ea; padding-bottom: 2pt; break-after: avoid; }
table { border-collapse: collapse; width: 100%; } tr { break-inside: avoid; }
th, td { text-align: left; padding: 3pt 5pt; border-bottom: 1px solid #dde3ea;
  vertical-align: top; }
th { font-size: 7.5pt; text-transform: uppercase; color: #5b6777; }
.muted { color: #5b6777; } .mono { font-family: monospace; font-size: 8.5pt; }
"""


def history_context(device, *, actor):
    from devices.firmware.models import DeviceUpdate
    from devices.identity.models import DeviceCertificate
    from incidents.models import Incident

    from .models import LifecycleTransition

    return {
        "device": device,
        "transitions": list(
            LifecycleTransition.objects.restrict(actor, "view")
            .filter(device=device)
            .order_by("created_at", "pk")
        ),
        "certificates": list(
            DeviceCertificate.objects.restrict(actor, "view")
            .filter(device=device)
            .select_related("authority")
            .order_by("not_before", "pk")
        ),
        "updates": list(
            DeviceUpdate.objects.restrict(actor, "view")
            .filter(device=device)
            .select_related("release", "rollout")
            .order_by("pk")
        ),
        "incidents": list(
            Incident.objects.restrict(actor, "view")
            .filter(affected_devices=device)
            .order_by("declared_at", "pk")
        ),
        "generated_at": timezone.now(),
        "generated_by": actor_label(actor),
    }


def device_history_pdf(device, *, actor):
    """``(pdf bytes, filename)`` of ``device``'s history; its SHA-256 is audited."""
    ensure_permitted(actor, "view", device)
    context = history_context(device, actor=actor)
    title = f"Device history {device.uid}"
    html = render_to_string("devices/history_document.html", context)
    content = render_pdf(
        html,
        organization=device.organization,
        title=title,
        generated_at=context["generated_at"],
        stylesheet=STYLE,
    )
    record_document(
        content,
        kind="device_history",
        title=title,
        actor=actor,
        obj=device,
        organization=device.organization,
    )
    stamp = context["generated_at"].strftime("%Y%m%d-%H%M")
    return content, f"{device.organization.slug}-{device.uid}-history-{stamp}.pdf"
