"""Web UI of the risk register: register, heat map, risk detail, exports (vulnerabilities:
vulnerability_views.py).

Reads go through ``restrict()`` and the organization switcher; writes call the services, whose
field-named errors land on the form and whose refusals are shown as messages.
"""

import datetime
import re
from collections import Counter

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from encompass import spreadsheet
from encompass.tenancy.access import can_create, has_access
from encompass.web.tenant import current_organization

from . import services
from .api.filters import RiskFilter
from .choices import MITIGATION_OPEN, RiskStatus
from .exports import export_rows, record_export
from .forms import (
    AcceptForm,
    MitigationForm,
    MitigationStatusForm,
    ReasonForm,
    RegisterFilterForm,
    ResidualForm,
    ReviewForm,
    RiskForm,
    apply_service_errors,
)
from .matrix import level_info
from .models import Mitigation, Risk, RiskMatrix


def _org(request):
    organization = current_organization(request)
    if organization is None:
        raise Http404("You are not a member of any organization.")
    return organization


def _matrix(request, organization):
    pk = request.GET.get("matrix")
    if pk and pk.isdigit():
        return get_object_or_404(
            RiskMatrix.objects.restrict(request.user), pk=pk, organization=organization
        )
    return services.default_matrix(organization)


def _risks(request, organization):
    return (
        Risk.objects.restrict(request.user)
        .filter(organization=organization)
        .select_related("matrix", "owner")
    )


def _filtered(request, organization):
    qs = _risks(request, organization)
    data = request.GET.copy()
    search = data.pop("q", [""])[-1].strip()
    risk_filter = RiskFilter(data, queryset=qs)
    qs = risk_filter.qs if risk_filter.is_valid() else qs.none()
    if search:
        qs = qs.filter(
            Q(reference__icontains=search)
            | Q(title__icontains=search)
            | Q(scenario__icontains=search)
        )
    return qs


def _decorate(risks):
    """Attach level dicts (label, colour) for templates."""
    for r in risks:
        r.inherent_info = level_info(r.matrix, r.inherent_level)
        r.residual_info = level_info(r.matrix, r.residual_level) if r.residual_level else None
    return risks


@login_required
def register(request):
    organization = _org(request)
    matrix = services.default_matrix(organization)
    form = RegisterFilterForm(request.GET or None, organization=organization, matrix=matrix)
    qs = _filtered(request, organization).annotate(
        open_mitigations=Count("mitigations", filter=Q(mitigations__status__in=MITIGATION_OPEN))
    )
    page = Paginator(qs.order_by("reference", "pk"), 50).get_page(request.GET.get("page"))
    _decorate(page.object_list)
    today = timezone.localdate()
    overdue_ids = set(
        Mitigation.objects.overdue(today)
        .filter(risk__in=[r.pk for r in page.object_list])
        .values_list("risk_id", flat=True)
    )
    for r in page.object_list:
        r.mitigation_overdue = r.pk in overdue_ids
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "risk/register.html",
        {
            "organization": organization,
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "can_add": can_create(request.user, Risk, organization),
            "filtered": bool(query),
        },
    )


def _grid(matrix, counts, axis_prefix):
    """Rows (likelihood, highest first) of cells with level, colour, count and filter link."""
    rows = []
    for likelihood in reversed(matrix.likelihood_levels):
        cells = []
        for impact in matrix.impact_levels:
            code = matrix.definition["grid"][likelihood["value"] - 1][impact["value"] - 1]
            info = level_info(matrix, code)
            count = counts.get((likelihood["value"], impact["value"]), 0)
            cells.append(
                {
                    "likelihood": likelihood["value"],
                    "impact": impact["value"],
                    "level": info,
                    "count": count,
                    "url": reverse("risk_ui:register")
                    + f"?{axis_prefix}_likelihood={likelihood['value']}"
                    f"&{axis_prefix}_impact={impact['value']}&active=true",
                }
            )
        rows.append({"likelihood": likelihood, "cells": cells})
    return rows


@login_required
def heatmap(request):
    organization = _org(request)
    matrix = _matrix(request, organization)
    risks = _risks(request, organization).filter(matrix=matrix).exclude(status=RiskStatus.CLOSED)
    inherent = Counter(risks.values_list("inherent_likelihood", "inherent_impact"))
    residual = Counter(
        risks.filter(residual_likelihood__isnull=False).values_list(
            "residual_likelihood", "residual_impact"
        )
    )
    unassessed = risks.filter(residual_likelihood__isnull=True).count()
    by_level = Counter(risks.values_list("inherent_level", flat=True))
    by_residual = Counter(risks.exclude(residual_level="").values_list("residual_level", flat=True))
    return render(
        request,
        "risk/heatmap.html",
        {
            "organization": organization,
            "matrix": matrix,
            "matrices": RiskMatrix.objects.restrict(request.user).filter(organization=organization),
            "inherent_rows": _grid(matrix, inherent, "inherent"),
            "residual_rows": _grid(matrix, residual, "residual"),
            "impact_levels": matrix.impact_levels,
            "total": sum(inherent.values()),
            "unassessed": unassessed,
            "legend": [
                {
                    **lv,
                    "inherent": by_level.get(lv["code"], 0),
                    "residual": by_residual.get(lv["code"], 0),
                }
                for lv in matrix.levels
            ],
        },
    )


def _risk_for(request, pk):
    return get_object_or_404(
        Risk.objects.restrict(request.user).select_related(
            "matrix", "owner", "accepted_by", "organization"
        ),
        pk=pk,
    )


def _forms(risk, request, bound=None):
    organization = risk.organization
    forms = {
        "residual": ResidualForm(
            initial={
                "likelihood": risk.residual_likelihood or risk.inherent_likelihood,
                "impact": risk.residual_impact or risk.inherent_impact,
                "current_controls": risk.current_controls,
            },
            matrix=risk.matrix,
        ),
        "accept": AcceptForm(
            initial={"expires_at": timezone.localdate() + datetime.timedelta(days=180)}
        ),
        "revoke": ReasonForm(),
        "close": ReasonForm(),
        "reopen": ReasonForm(),
        "review": ReviewForm(
            initial={"next_review_on": timezone.localdate() + datetime.timedelta(days=90)}
        ),
        "mitigation": MitigationForm(organization=organization, user=request.user),
    }
    if bound:
        forms.update(bound)
    return forms


@login_required
def risk_detail(request, pk, bound=None, status=200):
    risk = _risk_for(request, pk)
    _decorate([risk])
    mitigations = list(
        risk.mitigations.select_related("owner", "done_by").prefetch_related("devices")
    )
    return render(
        request,
        "risk/risk_detail.html",
        {
            "organization": risk.organization,
            "risk": risk,
            "mitigations": mitigations,
            "assets": risk.assets.all(),
            "threats": risk.threats.all(),
            "vulnerabilities": risk.vulnerabilities.all(),
            "forms": _forms(risk, request, bound),
            "can_change": has_access(request.user, risk, "change"),
            "can_accept": has_access(request.user, risk, "accept"),
            "can_add_mitigation": can_create(request.user, Mitigation, risk.organization),
            "can_progress": any(has_access(request.user, m, "change") for m in mitigations[:1]),
            "status_form": MitigationStatusForm(),
            "today": timezone.localdate(),
        },
        status=status,
    )


# The POST actions of the risk page: (form class, service call, success message).
def _accept(risk, user, data):
    expires = data["expires_at"]
    return services.accept_risk(
        risk, actor=user, justification=data["justification"], expires_at=expires
    )


RISK_ACTIONS = {
    "residual": (
        lambda risk: ResidualForm,
        lambda risk, user, d: services.assess_residual(risk, actor=user, **d),
        "Residual risk assessed.",
    ),
    "accept": (lambda risk: AcceptForm, _accept, "Risk accepted."),
    "revoke": (
        lambda risk: ReasonForm,
        lambda risk, user, d: services.revoke_acceptance(risk, actor=user, reason=d["reason"]),
        "Acceptance revoked.",
    ),
    "close": (
        lambda risk: ReasonForm,
        lambda risk, user, d: services.close_risk(risk, actor=user, reason=d["reason"]),
        "Risk closed.",
    ),
    "reopen": (
        lambda risk: ReasonForm,
        lambda risk, user, d: services.reopen_risk(risk, actor=user, reason=d["reason"]),
        "Risk reopened.",
    ),
    "review": (
        lambda risk: ReviewForm,
        lambda risk, user, d: services.mark_reviewed(risk, actor=user, **d),
        "Review recorded.",
    ),
}


@login_required
@require_POST
def risk_action(request, pk, name):
    risk = _risk_for(request, pk)
    if name == "mitigation":
        form = MitigationForm(request.POST, organization=risk.organization, user=request.user)
        call = lambda r, user, d: services.create_mitigation(r, actor=user, **d)  # noqa: E731
        success = "Mitigation added."
    elif name in RISK_ACTIONS:
        form_class, call, success = RISK_ACTIONS[name]
        kwargs = {"matrix": risk.matrix} if name == "residual" else {}
        form = form_class(risk)(request.POST, **kwargs)
    else:
        raise Http404
    if form.is_valid():
        try:
            call(risk, request.user, form.cleaned_data)
        except PermissionDenied as exc:
            messages.error(request, str(exc))
            return redirect("risk_ui:risk", pk=risk.pk)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, success)
            return redirect("risk_ui:risk", pk=risk.pk)
    messages.error(request, "Nothing was changed: see the form below.")
    return risk_detail(request, pk, bound={name: form}, status=400)


@login_required
@require_POST
def mitigation_status(request, pk):
    mitigation = get_object_or_404(Mitigation.objects.restrict(request.user), pk=pk)
    form = MitigationStatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a status.")
    else:
        try:
            services.set_mitigation_status(mitigation, actor=request.user, **form.cleaned_data)
            messages.success(request, f"{mitigation.title}: {form.cleaned_data['status']}.")
        except PermissionDenied as exc:
            messages.error(request, str(exc))
        except ValidationError as exc:
            messages.error(request, "; ".join(exc.messages))
    return redirect("risk_ui:risk", pk=mitigation.risk_id)


@login_required
def risk_form(request, pk=None):
    risk = _risk_for(request, pk) if pk else None
    organization = risk.organization if risk else _org(request)
    matrix = risk.matrix if risk else services.default_matrix(organization)
    initial = {}
    if risk:
        initial = {
            f: getattr(risk, f)
            for f in (
                "title",
                "scenario",
                "source",
                "inherent_likelihood",
                "inherent_impact",
                "current_controls",
                "owner",
                "treatment",
                "review_due_on",
            )
        }
        initial.update(
            assets=risk.assets.all(),
            threats=risk.threats.all(),
            vulnerabilities=risk.vulnerabilities.all(),
        )
    form = RiskForm(
        request.POST or None,
        initial=initial,
        organization=organization,
        matrix=matrix,
        user=request.user,
    )
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        likelihood, impact = data.pop("inherent_likelihood"), data.pop("inherent_impact")
        try:
            if risk:
                saved = services.update_risk(
                    risk, actor=request.user, likelihood=likelihood, impact=impact, **data
                )
            else:
                saved = services.create_risk(
                    actor=request.user,
                    organization=organization,
                    likelihood=likelihood,
                    impact=impact,
                    **data,
                )
        except PermissionDenied as exc:
            messages.error(request, str(exc))
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, f"{saved.reference} saved.")
            return redirect("risk_ui:risk", pk=saved.pk)
    return render(
        request,
        "risk/risk_form.html",
        {"organization": organization, "form": form, "risk": risk, "matrix": matrix},
        status=400 if request.method == "POST" else 200,
    )


def _export_queryset(request, organization):
    return _filtered(request, organization).restrict(request.user, "export")


@login_required
def export_csv(request):
    organization = _org(request)
    risks = _export_queryset(request, organization)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="risk-register-{organization.slug}-{timezone.localdate()}.csv"'
    )
    spreadsheet.writer(response).writerows(export_rows(risks))
    record_export(
        request.user, risks, fmt="csv", query=request.GET.urlencode(), organization=organization
    )
    return response


def _report_context(request, organization, *, fmt):
    risks = (
        _export_queryset(request, organization)
        .prefetch_related("assets", "threats", "vulnerabilities", "mitigations__owner")
        .order_by("reference")
    )
    risks = _decorate(list(risks))
    matrix = services.default_matrix(organization)
    record_export(
        request.user,
        _export_queryset(request, organization),
        fmt=fmt,
        query=request.GET.urlencode(),
        organization=organization,
    )
    inherent = Counter(
        (r.inherent_likelihood, r.inherent_impact)
        for r in risks
        if r.status != RiskStatus.CLOSED and r.matrix_id == matrix.pk
    )
    residual = Counter(
        (r.residual_likelihood, r.residual_impact)
        for r in risks
        if r.residual_likelihood and r.status != RiskStatus.CLOSED and r.matrix_id == matrix.pk
    )
    return {
        "organization": organization,
        "risks": risks,
        "matrix": matrix,
        "inherent_rows": _grid(matrix, inherent, "inherent"),
        "residual_rows": _grid(matrix, residual, "residual"),
        "impact_levels": matrix.impact_levels,
        "generated_at": timezone.now(),
        "filters": request.GET.urlencode(),
    }


@login_required
def report(request):
    organization = _org(request)
    return render(request, "risk/report.html", _report_context(request, organization, fmt="report"))


PDF_STYLE = """
body { font-family: sans-serif; color: #1c2430; font-size: 9.5pt; line-height: 1.4; }
h1 { font-size: 16pt; margin: 0 0 2pt 0; } h2 { font-size: 11.5pt; margin: 14pt 0 4pt 0; }
h3 { font-size: 10.5pt; margin: 12pt 0 3pt 0; break-after: avoid; }
.muted { color: #5b6777; } .mono { font-family: monospace; }
table.heatmaps { width: 100%; } table.heatmaps > tbody > tr > td { vertical-align: top; }
table.heat { border-collapse: separate; border-spacing: 2px; }
table.heat td { width: 11mm; height: 9mm; text-align: center; font-weight: 600; color: #fff; }
table.heat th { font-size: 7pt; font-weight: normal; color: #5b6777; padding: 0 3pt; }
table.list { border-collapse: collapse; width: 100%; }
table.list th, table.list td { text-align: left; padding: 2pt 4pt; border-bottom: 1px solid #dde3ea;
  vertical-align: top; }
table.list th { font-size: 7.5pt; text-transform: uppercase; color: #5b6777; }
.badge { padding: 0 4pt; border-radius: 3pt; color: #fff; font-size: 8pt; }
article { break-inside: avoid; }
"""


def _level_rules(context):
    """CSS giving each matrix level's colour to the cells and badges that carry it (the
    document has no style attributes; the colours are the matrix's own)."""
    colours = {
        cell["level"]["colour"]
        for rows in (context["inherent_rows"], context["residual_rows"])
        for row in rows
        for cell in row["cells"]
    }
    for risk in context["risks"]:
        for info in (risk.inherent_info, getattr(risk, "residual_info", None)):
            if info:
                colours.add(info["colour"])
    return "".join(
        f'[data-level="{c}"] {{ background: {c}; }}\n'
        for c in sorted(colours)
        if re.fullmatch(r"#[0-9a-fA-F]{3,8}", str(c))
    )


@login_required
def report_pdf(request):
    """The risk register with its heat maps as a PDF (docs/reports.md); the export and the
    document's SHA-256 are audited."""
    from encompass.documents import record_document, render_pdf

    organization = _org(request)
    context = _report_context(request, organization, fmt="pdf")
    context["heatmaps"] = [
        ("Inherent", context["inherent_rows"]),
        ("Residual", context["residual_rows"]),
    ]
    html = render_to_string("risk/report_document.html", context, request=request)
    title = "Risk register"
    content = render_pdf(
        html,
        organization=organization,
        title=title,
        generated_at=context["generated_at"],
        stylesheet=PDF_STYLE + _level_rules(context),
    )
    record_document(
        content,
        kind="risk_register",
        title=title,
        actor=request.user,
        obj=organization,
        organization=organization,
    )
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = (
        f'attachment; filename="risk-register-{organization.slug}-{timezone.localdate()}.pdf"'
    )
    return response
