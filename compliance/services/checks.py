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

from django.db import connection, transaction
from django.db.models import BigIntegerField, CharField, Count, F, Value
from django.db.models.functions import Coalesce, NullIf
from django.utils import timezone

from encompass.audit.services import actor_label, record_audit
from encompass.events.services import record_event
from encompass.exceptions import ValidationError

from ..checks import CheckOutcome, DeviceFindings, all_checks, setting
from ..choices import CHECK_RUNNERS, LIVE_STATUSES, EvidenceKind
from ..models import Assessment, CheckFinding, CheckRun, Evidence, Requirement
from ..models.checks import FAILING_SAMPLE
from .assessments import apply_latest_checks
from .common import ensure_role_in
from .suggestions import latest_runs

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


def _insert_device_findings(run, findings):
    """Copy a check's failing devices into CheckFinding rows with one INSERT ... SELECT: the
    devices never pass through Python, so memory does not grow with the fleet."""
    qs = findings.queryset.order_by().annotate(
        f_run=Value(run.pk, output_field=BigIntegerField()),
        f_org=Value(run.organization_id, output_field=BigIntegerField()),
        f_kind=Value("device", output_field=CharField()),
        f_object=F("pk"),
        f_site=F("site_id"),
        f_type=F("device_type_id"),
        f_uid=F("uid"),
        f_label=Coalesce(NullIf(F("name"), Value("")), F("uid"), output_field=CharField()),
        f_reason=F("finding_reason"),
    )
    names = [
        "f_run",
        "f_org",
        "f_kind",
        "f_object",
        "f_site",
        "f_type",
        "f_uid",
        "f_label",
        "f_reason",
    ]
    columns = [
        "run_id",
        "organization_id",
        "kind",
        "object_id",
        "site_id",
        "device_type_id",
        "uid",
        "label",
        "reason",
    ]
    select, params = qs.values_list(*names).query.sql_with_params()
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(CheckFinding._meta.db_table)} "
        f"({', '.join(quote(c) for c in columns)}) {select}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _subject(row):
    """A CheckFinding for one failing dict a check listed (devices, members, incidents ...)."""
    if "uid" in row and "id" in row:
        return CheckFinding(
            kind="device",
            object_id=row["id"],
            uid=row.get("uid") or "",
            label=(row.get("name") or row.get("uid") or "")[:300],
            site_id=row.get("site"),
            device_type_id=row.get("device_type"),
            reason=row.get("reason", ""),
        )
    if "problem" in row:
        return CheckFinding(kind="problem", reason=row["problem"])
    kind = next((k for k in ("user", "incident", "mitigation", "authority") if k in row), "item")
    return CheckFinding(
        kind=kind,
        object_id=row.get(kind),
        label=str(row.get("name", ""))[:300],
        reason=row.get("reason", ""),
    )


def _insert_listed_findings(run, rows, batch=2000):
    written = 0
    chunk = []
    for row in rows:
        finding = _subject(row)
        finding.run_id, finding.organization_id = run.pk, run.organization_id
        chunk.append(finding)
        if len(chunk) >= batch:
            written += len(CheckFinding.objects.bulk_create(chunk))
            chunk = []
    if chunk:
        written += len(CheckFinding.objects.bulk_create(chunk))
    return written


def _store(check, organization, outcome, elapsed, now, ran_by):
    run = CheckRun.objects.create(
        organization=organization,
        check_code=check.code,
        passed=outcome.passed,
        applicable=outcome.passed is not None,
        summary=outcome.summary[:500],
        checked_count=outcome.checked,
        measured=outcome.measured,
        ran_at=now,
        ran_by=ran_by[:200],
        duration_ms=elapsed,
    )
    if isinstance(outcome.failing, DeviceFindings):
        written = _insert_device_findings(run, outcome.failing)
    else:
        written = _insert_listed_findings(run, outcome.failing or ())
    findings = CheckFinding.objects.filter(run=run)
    run.failing_count = written
    run.failing = [f.as_row() for f in findings.order_by("pk")[:FAILING_SAMPLE]]
    run.scope_counts = (
        [
            [row["site_id"], row["device_type_id"], row["n"]]
            for row in findings.filter(kind="device")
            .order_by()
            .values("site_id", "device_type_id")
            .annotate(n=Count("pk"))
            .order_by("site_id", "device_type_id")
        ]
        if written
        else []
    )
    run.save(update_fields=["failing_count", "failing", "scope_counts"])
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
