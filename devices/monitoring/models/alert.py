"""Alerts: one open alert per cause, counted and kept current until acknowledged and resolved."""

from django.conf import settings
from django.db import models

from encompass.tenancy.models import TenantModel
from encompass.tenancy.roles import ALL_ROLES, Role

from ..choices import AlertSeverity, AlertSource, AlertStatus

RESPONDERS = frozenset({Role.ADMIN, Role.SECURITY_OFFICER, Role.OPERATOR})


class Alert(TenantModel):
    """Something that needs a person's attention, raised by a rule or by a platform check."""

    site = models.ForeignKey(
        "tenancy.Site", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    device = models.ForeignKey(
        "devices.Device", null=True, blank=True, on_delete=models.CASCADE, related_name="alerts"
    )
    source = models.CharField(
        max_length=20, choices=AlertSource.choices, default=AlertSource.PLATFORM
    )
    kind = models.CharField(
        max_length=64,
        db_index=True,
        help_text="What raised it, e.g. metric.threshold, certificate.expiring",
    )
    severity = models.CharField(max_length=10, choices=AlertSeverity.choices)
    title = models.CharField(max_length=300)
    details = models.JSONField(default=dict, blank=True)
    dedupe_key = models.CharField(
        max_length=200, help_text="One open alert per key: repeats raise the count."
    )
    status = models.CharField(
        max_length=14, choices=AlertStatus.choices, default=AlertStatus.OPEN, db_index=True
    )
    count = models.PositiveIntegerField(default=1)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution = models.TextField(blank=True)
    auto_resolved = models.BooleanField(default=False)

    site_lookup = "site"
    role_permissions = {
        "view": ALL_ROLES,
        "acknowledge": RESPONDERS | {Role.TECHNICIAN},
        "resolve": RESPONDERS,
        "escalate": frozenset({Role.ADMIN, Role.SECURITY_OFFICER}),
    }

    class Meta:
        ordering = ["-last_seen_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "dedupe_key"],
                condition=~models.Q(status="resolved"),
                name="one_unresolved_alert_per_cause",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "status", "-last_seen_at"]),
            # The alert list's default sort (newest first) within an organization.
            models.Index(
                fields=["organization", "-last_seen_at", "-id"], name="alert_org_last_seen"
            ),
        ]

    def __str__(self):
        return self.title
