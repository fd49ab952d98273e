"""Read-only: what the latest check runs suggest for each requirement of an assessment.

Used by assessments (to follow the checks) and by scoring; writes nothing.
"""

from django.db.models import OuterRef, Subquery

from ..checks import all_checks
from ..choices import Result
from ..models import CheckRun


def checks_by_requirement(framework_code):
    """``{ref: [Check]}`` for one framework."""
    index = {}
    for check in all_checks().values():
        for ref in check.maps.get(framework_code, ()):
            index.setdefault(ref, []).append(check)
    return index


def latest_runs(organization):
    """``{check code: CheckRun}`` -- the newest run of each check for ``organization``."""
    # A correlated subquery rather than DISTINCT ON, so the embedded SQLite default works too.
    newest = (
        CheckRun.objects.filter(organization=organization, check_code=OuterRef("check_code"))
        .order_by("-ran_at", "-pk")
        .values("pk")[:1]
    )
    runs = CheckRun.objects.filter(organization=organization, pk=Subquery(newest))
    return {r.check_code: r for r in runs}


def scope_of(assessment):
    """``(site ids, device type ids)`` (``.all()``: uses a ``prefetch_related`` when given)."""
    return (
        {s.pk for s in assessment.sites.all()},
        {t.pk for t in assessment.device_types.all()},
    )


def run_passes(check, run, site_ids, type_ids):
    """Whether ``run`` passes within a scope; None when it does not apply."""
    if run is None or run.passed is None:
        return None
    if run.passed or not check.device_scoped:
        return run.passed
    if not (site_ids or type_ids):
        return False
    # The run's failing counts per (site, type) answer this without reading its findings.
    return run.failing_in_scope(site_ids, type_ids) == 0


def suggestion(checks, runs, site_ids, type_ids):
    """Compliant / partially / non-compliant from the mapped checks; '' without an answer."""
    verdicts = [
        v
        for check in checks
        if (v := run_passes(check, runs.get(check.code), site_ids, type_ids)) is not None
    ]
    if not verdicts:
        return ""
    if all(verdicts):
        return Result.COMPLIANT
    if not any(verdicts):
        return Result.NON_COMPLIANT
    return Result.PARTIALLY_COMPLIANT
