"""The recorded history of a device's lifecycle."""

from django.conf import settings
from django.db import models

from encompass.tenancy.models import TenantModel
from encompass.tenancy.roles import ALL_ROLES

from ..choices import LifecycleState


class LifecycleTransition(TenantModel):
    """One move of a device from a state to another: who, when, why."""

    device = models.ForeignKey(
        "devices.Device", on_delete=models.CASCADE, related_name="transitions"
    )
    from_state = models.CharField(max_length=20, choices=LifecycleState.choices)
    to_state = models.CharField(max_length=20, choices=LifecycleState.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=200)
    reason = models.TextField()

    site_lookup = "device__site"
    role_permissions = {"view": ALL_ROLES}

    class Meta:
        ordering = ["device", "created_at", "pk"]
        indexes = [models.Index(fields=["device", "created_at"])]

    def __str__(self):
        return f"{self.device}: {self.from_state} → {self.to_state}"
