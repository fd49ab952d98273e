"""Web UI: the live scorecard, an assessment's requirement tree, the checks and the reports."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_POST

from encompass.tenancy.access import has_access, roles_in
from encompass.tenancy.models import Site
from encompass.web.tenant import current_organization

from .checks import all_checks
from .choices import CHECK_RUNNERS, RESULT_COLOURS, EvidenceState, Obligation, Result
from .models import Assessment, CheckFinding, CheckRun, Requirement, RequirementResult
from .pagination import CountedPaginator
from .services import assessments as assessment_services
from .services import evidence as evidence_services
from .services.checks import run_checks
from .services.reports import CONTENT_TYPES, export_report, filename_for, report_rows
from .services.scoring import ScoreInputs, compute_score, history
from .services.suggestions import latest_runs


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


def _card(assessment, runs, parents, org_sites):
    inputs = ScoreInputs(assessment, runs=runs, parents=parents.get(assessment.framework_id))
    parents.setdefault(assessment.framework_id, inputs.parents)
    snapshots = history(assessment)
    sites = list(assessment.sites.all()) or org_sites
    return {
        "assessment": assessment,
        "score": compute_score(assessment, inputs=inputs),
        "trend_series": {
            "label": f"{assessment.framework} — {assessment.name}",
            "assessment": assessment.pk,
            "points": [[s.taken_at.isoformat(), float(s.score), s.reason] for s in snapshots],
        },
        "has_trend": bool(snapshots),
        "sites": [(site, compute_score(assessment, site, inputs=inputs)) for site in sites],
    }


def _assessments(request, org):
    return (
        Assessment.objects.restrict(request.user, "view")
        .filter(organization=org)
        .select_related("framework", "organization")
        .prefetch_related("sites", "device_types")
    )


@login_required
def scorecard(request):
    """A fixed number of queries per assessment, whatever the fleet size: check runs carry
    their failing counts per (site, type), and each assessment is read once for all its sites."""
    org = _organization(request)
    runs = latest_runs(org)
    checks = all_checks()
    failing = [runs[c] for c in checks if c in runs and runs[c].passed is False]
    parents = {}
    org_sites = list(Site.objects.filter(organization=org))
    cards = [_card(a, runs, parents, org_sites) for a in _assessments(request, org)]
    return render(
        request,
        "compliance/scorecard.html",
        {
            "organization": org,
            "cards": cards,
            "trend": {"series": [c["trend_series"] for c in cards if c["has_trend"]]},
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
    runs = latest_runs(org)
    data = []
    for a in _assessments(request, org):
        score = compute_score(a, runs=runs)
        fw = a.framework
        data.append(
            {
                "id": a.pk,
                "score": score.score,
                "counts": score.counts,
                "framework": {
                    "code": fw.code,
                    "version": fw.version,
                    "verified_on": fw.verified_on.isoformat() if fw.verified_on else None,
                },
            }
        )
    return JsonResponse({"assessments": data})


def _finding_rows(findings):
    rows = []
    for f in findings:
        url = _device_url(f.object_id) if f.kind == "device" and f.object_id else None
        rows.append({"label": f.label or f.kind, "reason": f.reason, "url": url, "finding": f})
    return rows


@login_required
def checks(request):
    org = _organization(request)
    runs = latest_runs(org)
    rows = []
    for check in all_checks().values():
        run = runs.get(check.code)
        failing = []
        for row in run.failing if run else []:
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


PAGE_SIZE = 50


def _findings_page(request, run, organization, site_ids=(), type_ids=()):
    """One page of a run's failing items the user may see, narrowed to a scope. The total comes
    from the run's per-scope counts when the user sees the whole organization (no COUNT(*))."""
    findings = CheckFinding.objects.restrict(request.user, "view").filter(run=run)
    if site_ids:
        findings = findings.filter(site_id__in=site_ids)
    if type_ids:
        findings = findings.filter(device_type_id__in=type_ids)
    site = request.GET.get("site", "")
    if site.isdigit():
        findings = findings.filter(site_id=int(site))
    findings = findings.order_by("pk")
    if roles_in(request.user, organization) and not site.isdigit():
        known = run.failing_in_scope(site_ids, type_ids) if site_ids or type_ids else None
        paginator = CountedPaginator(
            findings, PAGE_SIZE, run.failing_count if known is None else known
        )
    else:
        paginator = Paginator(findings, PAGE_SIZE)
    return paginator.get_page(request.GET.get("page"))


@login_required
def check_run(request, pk):
    """Every failing item of one stored run, a page at a time."""
    run = get_object_or_404(
        CheckRun.objects.restrict(request.user, "view").select_related("organization"), pk=pk
    )
    page = _findings_page(request, run, run.organization)
    return render(
        request,
        "compliance/check_run.html",
        {
            "organization": run.organization,
            "run": run,
            "check": all_checks().get(run.check_code),
            "page": page,
            "rows": _finding_rows(page.object_list),
            "site": request.GET.get("site", ""),
        },
    )


@login_required
def result_detail(request, pk):
    """One requirement of an assessment: its result, evidence, and the devices failing the
    checks mapped to it (latest runs, within the assessment's scope), paginated per check."""
    row = get_object_or_404(
        RequirementResult.objects.restrict(request.user, "view").select_related(
            "requirement", "assessment__framework", "assessment__organization"
        ),
        pk=pk,
    )
    assessment = row.assessment
    site_ids, type_ids = assessment_services.scope_of(assessment)
    runs = latest_runs(assessment.organization)
    index = assessment_services.checks_by_requirement(assessment.framework.code)
    mapped = index.get(row.requirement.ref, [])
    wanted = request.GET.get("check") or (mapped[0].code if mapped else "")
    sections = []
    for check in mapped:
        run = runs.get(check.code)
        section = {"check": check, "run": run, "page": None, "rows": []}
        if run is not None and run.passed is False:
            scoped = check.device_scoped
            section["in_scope"] = (
                run.failing_in_scope(site_ids, type_ids) if scoped else run.failing_count
            )
            if check.code == wanted:
                page = _findings_page(
                    request,
                    run,
                    assessment.organization,
                    site_ids if scoped else (),
                    type_ids if scoped else (),
                )
                section["page"] = page
                section["rows"] = _finding_rows(page.object_list)
        sections.append(section)
    evidence = evidence_services.evidence_for(assessment, [row.requirement_id])
    return render(
        request,
        "compliance/result.html",
        {
            "organization": assessment.organization,
            "assessment": assessment,
            "result": row,
            "sections": sections,
            "wanted": wanted,
            "evidence": evidence.get(row.requirement_id, []),
            "colours": RESULT_COLOURS,
        },
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
