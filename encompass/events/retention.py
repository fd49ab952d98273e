"""Data minimisation: purge old events per organization, by class.

On PostgreSQL the telemetry and log classes are partitioned by day (encompass/events/partitions.py):
a day past every organization's retention for its class is dropped whole
(:func:`drop_expired_days`), then what remains past a shorter policy is deleted in batches, as it
is everywhere on SQLite."""

import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from encompass.audit.services import record_audit

from . import partitions
from .models import Event, EventKey, RetentionPolicy

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


def purge_organization(organization, *, now=None, batch=PURGE_BATCH, dropped=None):
    """Delete the organization's events past their class's retention; one audit entry per run.

    ``dropped`` is ``{class: rows}`` of this organization's rows in the day partitions
    :func:`drop_expired_days` dropped just before: counted and audited with the rest."""
    now = now or timezone.now()
    policy = policy_for(organization)
    counts, cutoffs = {}, {}
    dropped = dropped or {}
    for name, selector, cutoff in classes(policy, now):
        scope = Event.objects.filter(selector, organization=organization, received_at__lt=cutoff)
        counts[name] = _purge(scope, batch) + dropped.get(name, 0)
        cutoffs[name] = cutoff.isoformat()
    if any(counts.values()):
        changes = {"deleted": counts, "cutoffs": cutoffs}
        if dropped:
            changes["in_dropped_partitions"] = dropped
        record_audit(
            "events.retention.purge",
            actor=JOB_ACTOR,
            obj=policy,
            organization=organization,
            changes=changes,
        )
    return counts


CLASS_DAYS = {"telemetry": "telemetry_days", "logs": "log_days"}


def drop_expired_days(organizations, *, now=None):
    """Drop the day partitions past every organization's retention for their class (PostgreSQL).

    Returns ``{organization pk: {class: rows}}`` of the rows the dropped days held."""
    now = now or timezone.now()
    if not partitions.is_partitioned():
        return {}
    for organization in organizations:
        policy_for(organization)
    longest = RetentionPolicy.objects.aggregate(
        **{cls: Max(field) for cls, field in CLASS_DAYS.items()}
    )
    held = {}
    for cls, days in longest.items():
        if days is None:
            continue
        for _day, name in partitions.droppable(cls, now - datetime.timedelta(days=days)):
            for org_pk, rows in partitions.drop(name).items():
                per_class = held.setdefault(org_pk, {})
                per_class[cls] = per_class.get(cls, 0) + rows
    return held


def prune_keys(*, now=None, batch=PURGE_BATCH):
    """Delete the idempotency keys of events too old to be accepted again (``EventKey``)."""
    now = now or timezone.now()
    max_age = settings.ENCOMPASS.get("INGEST_MAX_AGE_SECONDS", 7 * 86400)
    cutoff = now - datetime.timedelta(seconds=max_age, days=1)
    total = 0
    while True:
        old = EventKey.objects.filter(occurred_at__lt=cutoff)
        edge = list(
            old.order_by("occurred_at").values_list("occurred_at", flat=True)[batch - 1 :][:1]
        )
        scope = old.filter(occurred_at__lte=edge[0]) if edge else old
        with transaction.atomic():
            deleted = scope._raw_delete(EventKey.objects.db)
        total += deleted
        if not edge:
            return total
