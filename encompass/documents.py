"""PDF documents made on the server (WeasyPrint, on Debian's Pango), and proof they are unaltered.

Every report that has a self-contained printable HTML form becomes a PDF through
:func:`render_pdf`: the same HTML, printed (``@media print``) with a page frame added -- the
organization's name and the document's title at the top, the generation time and "Page N of M"
at the bottom. :func:`record_document` writes the SHA-256 of the exact PDF bytes into the
organization's audit trail (``documents.pdf.generated``), so anyone holding a copy can later
show it is the one Encompass produced: hash the file (``sha256sum``) and find the entry
(docs/reports.md).

The renderer fetches nothing: a document's HTML carries its styles inline, and any other URL it
names (an image, a stylesheet, a font) is refused, so rendering cannot be made to reach the
network or read local files.
"""

import datetime
import hashlib

from django.utils import timezone

PAGE_FRAME = """
@page {
  size: A4;
  margin: 22mm 16mm 20mm 16mm;
  @top-left { content: "%(organization)s"; font: 600 8.5pt sans-serif; color: #1c2430; }
  @top-right { content: "%(title)s"; font: 8.5pt sans-serif; color: #5b6777; }
  @bottom-left { content: "Generated %(generated)s UTC"; font: 8pt sans-serif; color: #5b6777; }
  @bottom-right {
    content: "Page " counter(page) " of " counter(pages); font: 8pt sans-serif; color: #5b6777;
  }
}
body { max-width: none !important; margin: 0 !important; padding: 0 !important; }
/* References and times in a table's first column stay whole (A.8.34, not "A." over "8.34"). */
td:first-child { white-space: nowrap; }
"""


class DocumentError(Exception):
    """The renderer could not make the PDF."""


def _css_string(value):
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")[:120]


def _refuse_fetch(url, *args, **kwargs):
    raise DocumentError(f"documents fetch nothing (refused {url[:80]})")


def render_pdf(html, *, organization, title, generated_at=None, stylesheet=""):
    """The PDF bytes of ``html`` with the page frame (organization, title, time, page numbers);
    ``stylesheet`` is extra CSS for documents whose HTML carries none of its own."""
    from weasyprint import CSS, HTML

    generated_at = generated_at or timezone.now()
    frame = PAGE_FRAME % {
        "organization": _css_string(organization.name),
        "title": _css_string(title),
        "generated": generated_at.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M"),
    }
    document = HTML(string=html, url_fetcher=_refuse_fetch, media_type="print")
    sheets = [CSS(string=stylesheet)] if stylesheet else []
    return document.write_pdf(stylesheets=[*sheets, CSS(string=frame)])


def sha256_of(content):
    return hashlib.sha256(content).hexdigest()


def record_document(content, *, kind, title, actor, obj, organization):
    """Audit one generated PDF: its kind, title, size and SHA-256; returns the hash."""
    from encompass.audit.services import record_audit

    digest = sha256_of(content)
    record_audit(
        "documents.pdf.generated",
        actor=actor,
        obj=obj,
        organization=organization,
        changes={"kind": kind, "title": title, "bytes": len(content), "sha256": digest},
    )
    return digest
