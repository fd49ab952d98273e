"""django-q2 jobs of the compliance app (registered in ``ComplianceConfig.ready``). Each is safe
to run twice: checks store another run, snapshots another row, expiry flags each item once."""

import logging

from django.utils import timezone

from encompass.tenancy.models import Organization

from .choices import LIVE_STATUSES
from .models import Assessment
from .services.checks import run_checks
from .services.evidence import flag_expired_evidence as _flag_expired
from .services.scoring import record_snapshots

logger = logging.getLogger(__name__)
JOB = "job:compliance-checks"


def run_all_checks():
    """Run every check for every organization (one failing organization does not stop others)."""
    done = 0
    for organization in Organization.objects.order_by("pk"):
        try:
            run_checks(organization, actor=JOB, system=True)
            done += 1
        except Exception:
            logger.exception("compliance checks failed for %s", organization)
    return done


def record_daily_scores():
    now = timezone.now()
    rows = 0
    for assessment in Assessment.objects.filter(status__in=LIVE_STATUSES).select_related(
        "organization", "framework"
    ):
        rows += len(record_snapshots(assessment, reason="daily", now=now))
    return rows


def flag_expired_evidence():
    return _flag_expired()


def prune_check_runs():
    """Check-run retention (see compliance.services.retention)."""
    from .services.retention import prune_check_runs as prune

    return prune()
