"""Assets: what the register protects, linked to the inventory where it is a real thing."""

from django.conf import settings
from django.db import models

from devices.choices import Criticality
from encompass.exceptions import ValidationError
from encompass.tenancy.models import TenantModel

from ..choices import ASSET_KIND_LINK, ASSET_LINK_FIELDS, AssetKind
from .common import REGISTER_PERMISSIONS


class Asset(TenantModel):
    """Something of value to protect: a device, a device type, a site, a service or a data store."""

    kind = models.CharField(max_length=20, choices=AssetKind.choices)
    device = models.ForeignKey(
        "devices.Device", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    device_type = models.ForeignKey(
        "devices.DeviceType", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    site = models.ForeignKey(
        "tenancy.Site", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    criticality = models.CharField(
        max_length=10, choices=Criticality.choices, default=Criticality.MEDIUM
    )
    confidentiality = models.BooleanField(default=False, help_text="Confidentiality matters.")
    integrity = models.BooleanField(default=False, help_text="Integrity matters.")
    availability = models.BooleanField(default=False, help_text="Availability matters.")
    safety = models.BooleanField(default=False, help_text="Safety of people matters.")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    role_permissions = REGISTER_PERMISSIONS

    class Meta:
        ordering = ["kind", "name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="risk_asset_name_per_org"
            ),
            models.UniqueConstraint(
                fields=["organization", "device"],
                condition=models.Q(device__isnull=False),
                name="risk_asset_one_per_device",
            ),
            models.UniqueConstraint(
                fields=["organization", "device_type"],
                condition=models.Q(device_type__isnull=False),
                name="risk_asset_one_per_device_type",
            ),
            models.UniqueConstraint(
                fields=["organization", "site"],
                condition=models.Q(site__isnull=False),
                name="risk_asset_one_per_site",
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def objectives(self):
        return [
            name
            for name in ("confidentiality", "integrity", "availability", "safety")
            if getattr(self, name)
        ]

    def clean(self):
        errors = {}
        wanted = ASSET_KIND_LINK.get(self.kind)
        for field in ASSET_LINK_FIELDS:
            linked = getattr(self, f"{field}_id") is not None
            if field == wanted and not linked:
                errors[field] = f"A {self.get_kind_display().lower()} asset links one {field}."
            elif field != wanted and linked:
                errors[field] = (
                    f"Only a {AssetKind(field).label.lower()} asset links "
                    f"a {field.replace('_', ' ')}."
                )
            elif linked and self.organization_id:
                target = getattr(self, field)
                if target.organization_id != self.organization_id:
                    errors[field] = "Must belong to the same organization."
        if errors:
            raise ValidationError(errors)
