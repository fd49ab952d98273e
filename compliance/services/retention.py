"""Retention of check runs: findings for the recent runs, counts and samples for a long time.

Every run of a check writes its failing items as ``CheckFinding`` rows; at 100,000 devices and a
run every 15 minutes that is the table that grows. So:

* the findings of the newest ``CHECK_FINDINGS_KEEP_RUNS`` runs of each check (default 8, two
  hours at the default interval) are kept, and so are those of any run younger than
  ``CHECK_FINDINGS_RETENTION_HOURS`` (default 24); older runs keep their counts, per-scope counts
  and capped sample (``findings_kept`` becomes false);
* runs older than ``CHECK_RUN_RETENTION_DAYS`` (default 400: a year of history for an audit,
  plus slack) are deleted, except the newest run of each check and runs that evidence points at.

``prune_check_runs`` does this in batches (each its own short transaction), so it never holds
long locks and its memory does not grow with the table.
"""

from datetime import timedelta

from django.db import transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.utils import timezone

from ..checks import setting
from ..models import CheckFinding, CheckRun, Evidence

BATCH = 5000


def _with_cutoff(queryset, keep):
    """Annotate each run with the pk of the ``keep``-th newest run of its check (None when the
    check has fewer runs): runs of a check are created in time order, so a pk at or above the
    cutoff is one of the newest ``keep``."""
    kth = (
        CheckRun.objects.filter(
            organization=OuterRef("organization"), check_code=OuterRef("check_code")
        )
        .order_by("-ran_at", "-pk")
        .values("pk")[keep - 1 : keep]
    )
    return queryset.annotate(cutoff=Subquery(kth))


def _among_newest(keep):
    return Q(cutoff__isnull=True) | Q(pk__gte=F("cutoff"))


def _delete_findings_of(run_ids):
    deleted = 0
    for run_id in run_ids:
        while True:
            ids = list(
                CheckFinding.objects.filter(run_id=run_id).values_list("pk", flat=True)[:BATCH]
            )
            if not ids:
                break
            with transaction.atomic():
                deleted += CheckFinding.objects.filter(pk__in=ids)._raw_delete("default")
    return deleted


def prune_check_runs(*, now=None):
    """Apply the retention above; returns ``{"findings": n, "runs": n}`` deleted."""
    now = now or timezone.now()
    keep = max(1, int(setting("CHECK_FINDINGS_KEEP_RUNS", 8)))
    hours = int(setting("CHECK_FINDINGS_RETENTION_HOURS", 24))
    days = int(setting("CHECK_RUN_RETENTION_DAYS", 400))
    # Runs still holding findings, older than the window, and not among the newest ``keep``.
    candidates = CheckRun.objects.filter(
        findings_kept=True, ran_at__lt=now - timedelta(hours=hours)
    )
    old = list(
        _with_cutoff(candidates, keep).exclude(_among_newest(keep)).values_list("pk", flat=True)
    )
    findings = _delete_findings_of(old)
    CheckRun.objects.filter(pk__in=old).update(findings_kept=False)
    # Whole runs past the long retention (never the newest of a check, never cited evidence).
    cited = Evidence.objects.exclude(check_run=None).values("check_run_id")
    expired = (
        _with_cutoff(CheckRun.objects.filter(ran_at__lt=now - timedelta(days=days)), 1)
        .exclude(_among_newest(1))
        .exclude(pk__in=cited)
    )
    runs = 0
    while True:
        ids = list(expired.values_list("pk", flat=True)[:BATCH])
        if not ids:
            break
        findings += _delete_findings_of(ids)
        with transaction.atomic():
            runs += CheckRun.objects.filter(pk__in=ids)._raw_delete("default")
    return {"findings": findings, "runs": runs}
