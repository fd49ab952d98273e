"""Data minimisation: purge old events per organization, by class, in batches."""

import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from encompass.audit.services import record_audit

from .models import Event, RetentionPolicy

TELEMETRY_KINDS = ("device.telemetry", "device.heartbeat")
LOG_KINDS = ("device.log",)
SECURITY_Q = Q(kind="device.security") | Q(kind__startswith="security.")
PURGE_BATCH = 5000
JOB_ACTOR = "job:event-retention"


def policy_for(organization):
    """The organization's retention policy (the defaults until an Admin changes them)."""
    policy, _ = RetentionPolicy.objects.get_or_create(organization=organization)
    return policy


def classes(policy, now):
    """(name, filter, cutoff) for each class of event the policy governs."""
    day = datetime.timedelta(days=1)
    platform = ~Q(kind__in=TELEMETRY_KINDS + LOG_KINDS) & ~SECURITY_Q
    return [
        ("telemetry", Q(kind__in=TELEMETRY_KINDS), now - policy.telemetry_days * day),
        ("logs", Q(kind__in=LOG_KINDS), now - policy.log_days * day),
        ("security", SECURITY_Q, now - policy.security_days * day),
        ("platform", platform, now - policy.platform_days * day),
    ]


def _purge(queryset, batch):
    total = 0
    while True:
        ids = list(queryset.order_by("id").values_list("id", flat=True)[:batch])
        if not ids:
            return total
        with transaction.atomic():
            Event.objects.filter(id__in=ids)._raw_delete(Event.objects.db)
        total += len(ids)


def purge_organization(organization, *, now=None, batch=PURGE_BATCH):
    """Delete the organization's events past their class's retention; one audit entry per run."""
    now = now or timezone.now()
    policy = policy_for(organization)
    counts, cutoffs = {}, {}
    for name, selector, cutoff in classes(policy, now):
        scope = Event.objects.filter(selector, organization=organization, received_at__lt=cutoff)
        counts[name] = _purge(scope, batch)
        cutoffs[name] = cutoff.isoformat()
    if any(counts.values()):
        record_audit(
            "events.retention.purge",
            actor=JOB_ACTOR,
            obj=policy,
            organization=organization,
            changes={"deleted": counts, "cutoffs": cutoffs},
        )
    return counts
