"""Outbound webhooks: endpoints with an encrypted signing secret, and their deliveries."""

from django.conf import settings
from django.db import models

from encompass.tenancy.models import TenantModel
from encompass.tenancy.roles import Role

from .choices import DeliveryStatus

# Who manages endpoints and redelivers, and who reads deliveries (the incident runners and
# readers: webhooks moved here from the incidents app with the same permissions).
RUNNERS = frozenset({Role.ADMIN, Role.SECURITY_OFFICER})
READERS = RUNNERS | {Role.OPERATOR, Role.AUDITOR}


class WebhookEndpoint(TenantModel):
    """An integration URL that receives HMAC-signed events whose kind starts with a prefix."""

    name = models.CharField(max_length=200)
    url = models.URLField(max_length=500)
    event_prefixes = models.JSONField(
        default=list, help_text='Event kinds to send, as prefixes: ["incident.", "alert."].'
    )
    active = models.BooleanField(default=True)
    secret_encrypted = models.BinaryField(editable=False)
    secret_hint = models.CharField(max_length=8, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )

    role_permissions = {
        "view": RUNNERS,
        "add": RUNNERS,
        "change": RUNNERS,
        "delete": RUNNERS,
    }
    audit_exclude = ("secret_encrypted",)

    class Meta:
        db_table = "incidents_webhookendpoint"  # created by the incidents app's migrations
        ordering = ["organization", "name"]

    def __str__(self):
        return self.name

    def wants(self, kind):
        return self.active and any(kind.startswith(p) for p in self.event_prefixes)


class WebhookDelivery(TenantModel):
    """One event sent (or being retried) to one endpoint."""

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(
        "events.Event", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=64)
    payload = models.JSONField()
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    role_permissions = {
        "view": READERS,
        "add": frozenset(),
        "change": frozenset(),
        "delete": frozenset(),
        "redeliver": RUNNERS,
    }

    class Meta:
        db_table = "incidents_webhookdelivery"
        ordering = ["-pk"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "event"],
                condition=models.Q(event__isnull=False),
                name="one_delivery_per_event_and_endpoint",
            ),
        ]

    def __str__(self):
        return f"{self.kind} → {self.endpoint_id} ({self.status})"


class WebhookCursor(models.Model):
    """How far the fan-out job has read the event stream (one row).

    On SQLite (one writer: ids become visible in order) the position is ``last_event_id``. On
    PostgreSQL it is ``(position_txid, position_id)`` in (transaction, id) order, moved only past
    rows of transactions that have ended (encompass/events/visibility.py); ``position_txid`` is
    NULL until the rows written before events had a transaction id are read by id.
    """

    name = models.CharField(max_length=50, primary_key=True)
    last_event_id = models.BigIntegerField(default=0)
    position_txid = models.BigIntegerField(null=True, blank=True)
    position_id = models.BigIntegerField(default=0)

    class Meta:
        db_table = "incidents_webhookcursor"

    def __str__(self):
        if self.position_txid is not None:
            return f"{self.name} @ txid {self.position_txid}, id {self.position_id}"
        return f"{self.name} @ {self.last_event_id}"
