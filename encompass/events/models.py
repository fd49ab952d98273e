"""The ordered stream of device-reported and platform events, and how long each kind is kept."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from encompass.tenancy.models import RestrictedManager
from encompass.tenancy.roles import ADMIN_ONLY, ALL_ROLES

from .choices import EventSource, Severity
from .visibility import CurrentTransactionId, SnapshotHorizon


class Event(models.Model):
    """One thing that happened, in the order the platform stored it (``id`` is the order)."""

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(
        "tenancy.Organization", on_delete=models.CASCADE, related_name="+"
    )
    site = models.ForeignKey(
        "tenancy.Site", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    device = models.ForeignKey(
        "devices.Device", null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )
    kind = models.CharField(max_length=64, db_index=True)
    source = models.CharField(max_length=16, choices=EventSource.choices)
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.INFO)
    # The device's own id for the event (idempotency key) and its own clock.
    event_id = models.CharField(max_length=64, null=True, blank=True)
    occurred_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(db_index=True)
    payload = models.JSONField(default=dict, blank=True)
    # Set by the database (PostgreSQL; NULL on SQLite): the inserting transaction, and the oldest
    # transaction still running then. Readers that follow the table use them so that a row which
    # commits late is never skipped (encompass/events/visibility.py). A BRIN index on txid is
    # created by migration 0004 on PostgreSQL.
    txid = models.BigIntegerField(
        null=True, blank=True, editable=False, db_default=CurrentTransactionId()
    )
    horizon = models.BigIntegerField(
        null=True, blank=True, editable=False, db_default=SnapshotHorizon()
    )

    objects = RestrictedManager()

    tenant_lookup = "organization"
    site_lookup = "site"
    role_permissions = {"view": ALL_ROLES}

    class Meta:
        ordering = ["id"]
        # A device's event id is stored once: EventKey below holds the (device, event id) keys,
        # because on PostgreSQL this table is partitioned (encompass/events/partitions.py) and a
        # unique constraint there would have to include the partition key.
        indexes = [
            models.Index(fields=["organization", "id"]),
            models.Index(fields=["device", "kind", "-received_at"]),
            # Replay of a site scope reads "site = X and id > since" in id order.
            models.Index(fields=["site", "id"], name="event_site_id"),
        ]

    def __str__(self):
        return f"#{self.pk} {self.kind}"


class EventKey(models.Model):
    """The idempotency key of a device's event: ``(device, event id)`` is stored once.

    Written with the event, in the same statement (devices/monitoring/ingest.py). Kept while the
    device could still send the event: a key whose ``occurred_at`` is older than ingest's
    acceptance window (``INGEST_MAX_AGE_SECONDS``) plus a day is pruned by the retention job,
    because such a re-send is refused as too old before any key is looked at.
    """

    pk = models.CompositePrimaryKey("device", "event_id")
    device = models.ForeignKey("devices.Device", on_delete=models.CASCADE, related_name="+")
    event_id = models.CharField(max_length=64)
    occurred_at = models.DateTimeField(db_index=True)

    def __str__(self):
        return f"{self.device_id}:{self.event_id}"


class WorkerHeartbeat(models.Model):
    """The last time a background worker proved it was alive (``/readyz`` reads it)."""

    name = models.CharField(max_length=50, primary_key=True)
    beat_at = models.DateTimeField()

    def __str__(self):
        return f"{self.name} @ {self.beat_at:%Y-%m-%d %H:%M:%S}"


def _days(default, help_text):
    return models.PositiveIntegerField(
        default=default,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text=help_text,
    )


class RetentionPolicy(models.Model):
    """How long an organization keeps each class of event (data minimisation)."""

    organization = models.OneToOneField(
        "tenancy.Organization", on_delete=models.CASCADE, related_name="event_retention"
    )
    telemetry_days = _days(30, "Telemetry and heartbeats are purged after this many days.")
    log_days = _days(90, "Device log lines are purged after this many days.")
    security_days = _days(
        365, "Security events (device signals, refusals) are kept at least this long."
    )
    platform_days = _days(
        730, "Platform events (lifecycle, alerts, rollouts, incidents) are purged after this."
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = RestrictedManager()

    tenant_lookup = "organization"
    site_lookup = None
    role_permissions = {"view": ALL_ROLES, "add": ADMIN_ONLY, "change": ADMIN_ONLY, "delete": ()}

    class Meta:
        verbose_name = "event retention policy"
        verbose_name_plural = "event retention policies"

    def __str__(self):
        return f"Retention for {self.organization}"


class JobAttempt(models.Model):
    """One background job's runs as the worker saw them: started, finished, or interrupted (the
    worker died under it); a job interrupted ``max_attempts`` times is dead-lettered."""

    class State(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed (raised)"
        INTERRUPTED = "interrupted", "Interrupted (worker died), will be retried"
        DEAD = "dead", "Dead-lettered (interrupted too often)"

    task_id = models.CharField(max_length=64, primary_key=True)
    name = models.CharField(max_length=200)
    func = models.CharField(max_length=256)
    queue_id = models.BigIntegerField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=12, choices=State.choices, db_index=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self):
        return f"{self.name} ({self.state}, {self.attempts} attempt(s))"
