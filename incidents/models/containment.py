"""Containment actions taken on the fleet from an incident, and their reversal."""

from django.conf import settings
from django.db import models

from encompass.tenancy.models import TenantModel

from ..choices import REVERSIBLE_CONTAINMENT, ContainmentKind
from .incident import READERS, RUNNERS


class ContainmentAction(TenantModel):
    """One action on one target (device, rollout, API key); reversible where it makes sense."""

    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.CASCADE, related_name="containment_actions"
    )
    kind = models.CharField(max_length=24, choices=ContainmentKind.choices)
    device = models.ForeignKey(
        "devices.Device", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_key = models.ForeignKey(
        "tenancy.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    target_repr = models.CharField(max_length=300)
    details = models.JSONField(default=dict, blank=True)
    reason = models.TextField()
    performed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    performed_at = models.DateTimeField()
    reversed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reversed_at = models.DateTimeField(null=True, blank=True)
    reverse_reason = models.TextField(blank=True)

    role_permissions = {
        "view": READERS,
        "add": RUNNERS,
        "change": RUNNERS,
        "delete": frozenset(),
        "reverse": RUNNERS,
    }

    class Meta:
        ordering = ["incident", "performed_at", "pk"]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.target_repr}"

    @property
    def reversible(self):
        return self.kind in REVERSIBLE_CONTAINMENT and self.reversed_at is None
