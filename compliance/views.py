"""Web UI: the live scorecard, an assessment's requirement tree, the checks and the reports."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_POST

from encompass.tenancy.access import has_access, roles_in
from encompass.web.tenant import current_organization

from .checks import all_checks
from .choices import CHECK_RUNNERS, RESULT_COLOURS, EvidenceState, Obligation, Result
from .models import Assessment, Requirement, RequirementResult
from .services import assessments as assessment_services
from .services import evidence as evidence_services
from .services.assessments import latest_runs
from .services.checks import run_checks
from .services.reports import CONTENT_TYPES, export_report, filename_for, report_rows
from .services.scoring import compute_score, history, scope_sites, trend_svg_points


def _organization(request):
    org = current_organization(request)
    if org is None:
        raise Http404("You belong to no organization yet.")
    return org


def _assessment(request, pk):
    return get_object_or_404(
        Assessment.objects.restrict(request.user, "view").select_related(
            "framework", "organization"
        ),
        pk=pk,
    )


def _device_url(device_id):
    try:
        return reverse("devices_ui:detail", args=[device_id])
    except NoReverseMatch:
        return None


def _card(assessment):
    score = compute_score(assessment)
    points = trend_svg_points(history(assessment))
    return {
        "assessment": assessment,
        "score": score,
        "trend": " ".join(f"{x},{y}" for x, y, _s in points),
        "trend_points": points,
        "sites": [(site, compute_score(assessment, site)) for site in scope_sites(assessment)],
    }


@login_required
def scorecard(request):
    org = _organization(request)
    assessments = (
        Assessment.objects.restrict(request.user, "view")
        .filter(organization=org)
        .select_related("framework", "organization")
    )
    runs = latest_runs(org)
    checks = all_checks()
    failing = [runs[c] for c in checks if c in runs and runs[c].passed is False]
    return render(
        request,
        "compliance/scorecard.html",
        {
            "organization": org,
            "cards": [_card(a) for a in assessments],
            "failing_runs": failing,
            "check_count": len(checks),
            "passing": sum(1 for c in checks if c in runs and runs[c].passed),
            "colours": RESULT_COLOURS,
        },
    )


@login_required
def scorecard_json(request):
    """What the live scorecard refreshes from (polling fallback and after websocket events)."""
    org = _organization(request)
    data = []
    for a in Assessment.objects.restrict(request.user, "view").filter(organization=org):
        score = compute_score(a)
        data.append({"id": a.pk, "score": score.score, "counts": score.counts})
    return JsonResponse({"assessments": data})


@login_required
def checks(request):
    org = _organization(request)
    runs = latest_runs(org)
    rows = []
    for check in all_checks().values():
        run = runs.get(check.code)
        failing = []
        for row in (run.failing if run else [])[:100]:
            url = _device_url(row["id"]) if "uid" in row else None
            label = row.get("name") or row.get("problem") or "?"
            failing.append({"label": label, "reason": row.get("reason", ""), "url": url})
        rows.append({"check": check, "run": run, "failing": failing})
    can_run = bool(set(CHECK_RUNNERS) & roles_in(request.user, org))
    return render(
        request,
        "compliance/checks.html",
        {"organization": org, "rows": rows, "can_run": can_run},
    )


@login_required
@require_POST
def run_checks_now(request):
    org = _organization(request)
    try:
        runs = run_checks(org, actor=request.user)
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    else:
        failed = sum(1 for r in runs if r.passed is False)
        messages.success(request, f"Ran {len(runs)} checks: {failed} failing.")
    return redirect("compliance_ui:checks")


@login_required
def assessment_detail(request, pk):
    assessment = _assessment(request, pk)
    results = list(
        assessment.results.select_related("requirement", "owner").order_by("requirement__order")
    )
    evidence = evidence_services.evidence_for(assessment, [r.requirement_id for r in results])
    want_result = request.GET.get("result", "")
    want_obligation = request.GET.get("obligation", "")
    groups = {
        r.pk: r
        for r in Requirement.objects.filter(framework=assessment.framework, assessable=False)
    }
    rows = []
    for r in results:
        if want_result and r.result != want_result:
            continue
        if want_obligation and r.requirement.obligation != want_obligation:
            continue
        items = evidence.get(r.requirement_id, [])
        rows.append(
            {
                "result": r,
                "group": groups.get(r.requirement.parent_id),
                "evidence": items,
                "evidence_state": evidence_services.evidence_state(items),
            }
        )
    return render(
        request,
        "compliance/assessment.html",
        {
            "assessment": assessment,
            "organization": assessment.organization,
            "rows": rows,
            "score": compute_score(assessment),
            "results": Result.choices,
            "obligations": Obligation.choices,
            "want_result": want_result,
            "want_obligation": want_obligation,
            "can_assess": has_access(request.user, assessment, "assess"),
            "can_add_evidence": has_access(request.user, assessment, "evidence"),
            "can_export": has_access(request.user, assessment, "export"),
            "colours": RESULT_COLOURS,
            "stale": EvidenceState.STALE,
        },
    )


def _errors(exc):
    if hasattr(exc, "message_dict"):
        return "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
    return " ".join(exc.messages)


@login_required
@require_POST
def set_result(request, pk):
    row = get_object_or_404(RequirementResult.objects.restrict(request.user, "view"), pk=pk)
    try:
        if request.POST.get("revert"):
            assessment_services.revert_to_checks(row, actor=request.user)
        else:
            assessment_services.set_result(
                row,
                actor=request.user,
                result_value=request.POST.get("result", ""),
                notes=request.POST.get("notes"),
                justification=request.POST.get("justification"),
            )
        messages.success(request, f"{row.requirement.ref} saved.")
    except ValidationError as exc:
        messages.error(request, f"{row.requirement.ref}: {_errors(exc)}")
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    return redirect(reverse("compliance_ui:assessment", args=[row.assessment_id]) + f"#r{row.pk}")


@login_required
@require_POST
def add_evidence(request, pk):
    assessment = _assessment(request, pk)
    ids = request.POST.getlist("requirements")
    requirements = list(
        Requirement.objects.filter(
            pk__in=[i for i in ids if i.isdigit()], framework=assessment.framework
        )
    )
    from django.utils.dateparse import parse_date

    valid_until = None
    if request.POST.get("valid_until"):
        from datetime import datetime, time

        from django.utils import timezone

        day = parse_date(request.POST["valid_until"])
        if day is not None:
            valid_until = timezone.make_aware(datetime.combine(day, time.max))
    try:
        evidence_services.add_evidence(
            assessment.organization,
            actor=request.user,
            title=request.POST.get("title", ""),
            requirements=requirements,
            file=request.FILES.get("file"),
            url=request.POST.get("url", ""),
            description=request.POST.get("description", ""),
            valid_until=valid_until,
        )
        messages.success(request, "Evidence added.")
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    return redirect("compliance_ui:assessment", pk=assessment.pk)


@login_required
def report(request, pk, kind):
    assessment = _assessment(request, pk)
    if kind not in ("assessment", "soa"):
        raise Http404("No such report.")
    return render(
        request,
        "compliance/report.html",
        {
            "assessment": assessment,
            "organization": assessment.organization,
            "kind": kind,
            "rows": report_rows(assessment, kind),
            "score": compute_score(assessment),
            "can_export": has_access(request.user, assessment, "export"),
        },
    )


@login_required
def export(request, pk, kind, fmt):
    assessment = _assessment(request, pk)
    try:
        body = export_report(assessment, actor=request.user, kind=kind, fmt=fmt)
    except ValidationError as exc:
        raise Http404(_errors(exc)) from exc
    response = HttpResponse(body, content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = (
        f'attachment; filename="{filename_for(assessment, kind, fmt)}"'
    )
    return response
