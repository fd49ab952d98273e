"""Running the automated checks: store each run, keep its evidence current, follow the results.

``run_checks(organization, actor=...)`` runs every registered check (or the ``codes`` given) over
the organization's fleet. Each run is stored as a ``CheckRun`` (the snapshot: pass / fail, the
failing devices and the measured values). The organization's evidence for the check (one
``Evidence`` of kind ``check_result`` per check, linked to every requirement the check serves in
every loaded framework) then points at the new run and is valid for ``freshness`` minutes. Live
assessments recompute their automatic results, and their score is recorded when it changed.
"""

import logging
import time
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from encompass.audit.services import actor_label, record_audit
from encompass.events.services import record_event
from encompass.exceptions import ValidationError

from ..checks import CheckOutcome, all_checks, setting
from ..choices import CHECK_RUNNERS, LIVE_STATUSES, EvidenceKind
from ..models import Assessment, CheckRun, Evidence, Requirement
from .assessments import apply_latest_checks, latest_runs
from .common import ensure_role_in

logger = logging.getLogger(__name__)


def freshness():
    """How long a check result stays valid evidence (twice the schedule interval by default)."""
    return timedelta(minutes=setting("EVIDENCE_FRESHNESS_MINUTES", 2 * check_interval()))


def check_interval():
    return int(setting("CHECK_INTERVAL_MINUTES", 15))


def _requirements_for(check):
    """Requirement rows (every loaded version) the check serves."""
    rows = []
    for code, refs in check.maps.items():
        rows += list(
            Requirement.objects.filter(
                framework__code=code, ref__in=refs, withdrawn_in_revision__isnull=True
            )
        )
    return rows


def _execute(check, organization, now):
    started = time.monotonic()
    try:
        outcome = check.run(organization, now=now)
    except Exception as exc:  # a broken check must not stop the others; it shows as an error
        logger.exception("compliance check %s failed for %s", check.code, organization)
        outcome = CheckOutcome(passed=None, summary=f"error: the check could not run ({exc})")
    return outcome, int((time.monotonic() - started) * 1000)


def _store(check, organization, outcome, elapsed, now, ran_by):
    run = CheckRun.objects.create(
        organization=organization,
        check_code=check.code,
        passed=outcome.passed,
        applicable=outcome.passed is not None,
        summary=outcome.summary[:500],
        failing_count=len(outcome.failing),
        checked_count=outcome.checked,
        failing=outcome.failing,
        measured=outcome.measured,
        ran_at=now,
        ran_by=ran_by[:200],
        duration_ms=elapsed,
    )
    evidence = Evidence.objects.filter(
        organization=organization, kind=EvidenceKind.CHECK_RESULT, check_code=check.code
    ).first()
    if outcome.passed is None:
        if evidence is not None and evidence.is_current(now):
            # No answer is no evidence: the previous result stops counting now.
            Evidence.objects.filter(pk=evidence.pk).update(valid_until=now, check_run=run)
        return run
    if evidence is None:
        evidence = Evidence(
            organization=organization, kind=EvidenceKind.CHECK_RESULT, check_code=check.code
        )
    evidence.title = f"Automated check: {check.title}"
    evidence.description = outcome.summary[:2000]
    evidence.check_run = run
    evidence.collected_at = now
    evidence.valid_until = now + freshness()
    evidence.expiry_flagged_at = None
    evidence.save()
    evidence.requirements.set(_requirements_for(check))
    return run


def run_checks(organization, *, actor, codes=None, system=False):
    """Run checks for one organization; returns the stored ``CheckRun`` rows."""
    if not system:
        ensure_role_in(actor, organization, CHECK_RUNNERS, "run compliance checks")
    registry = all_checks()
    if codes:
        unknown = sorted(set(codes) - set(registry))
        if unknown:
            raise ValidationError({"checks": f"Unknown check(s): {', '.join(unknown)}."})
        selected = [registry[c] for c in codes]
    else:
        selected = list(registry.values())
    now = timezone.now()
    ran_by = actor_label(actor)
    outcomes = [(check, *_execute(check, organization, now)) for check in selected]
    with transaction.atomic():
        runs = [
            _store(check, organization, outcome, elapsed, now, ran_by)
            for check, outcome, elapsed in outcomes
        ]
        latest = latest_runs(organization)
        from .scoring import record_snapshots

        for assessment in Assessment.objects.filter(
            organization=organization, status__in=LIVE_STATUSES
        ).select_related("framework", "organization"):
            apply_latest_checks(assessment, actor=actor, runs=latest)
            record_snapshots(assessment, reason="check_run", only_if_changed=True, now=now)
        failed = [r.check_code for r in runs if r.passed is False]
        record_audit(
            "compliance.checks.run",
            actor=actor,
            organization=organization,
            object_repr=f"{len(runs)} compliance checks",
            changes={
                "checks": [r.check_code for r in runs],
                "failed": failed,
                "not_applicable": [r.check_code for r in runs if r.passed is None],
            },
        )
        record_event(
            "compliance.checks_ran",
            organization=organization,
            payload={
                "runs": [
                    {"check": r.check_code, "passed": r.passed, "failing": r.failing_count}
                    for r in runs
                ],
                "failed": failed,
            },
        )
    return runs
