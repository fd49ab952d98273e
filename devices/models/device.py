"""Device types, devices and tags."""

import secrets

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models

from encompass.tenancy.models import TenantModel
from encompass.tenancy.roles import ADMIN_ONLY, ALL_ROLES, Role

from ..choices import (
    ACTIVE_STATES,
    ALL_TRANSITION_ROLES,
    HEALTH_COLOURS,
    SITED_STATES,
    STATE_COLOURS,
    Criticality,
    DeviceClass,
    Health,
    LifecycleState,
)

FLEET_WRITERS = frozenset({Role.ADMIN, Role.OPERATOR})
FIELD_WRITERS = frozenset({Role.ADMIN, Role.OPERATOR, Role.TECHNICIAN})

_UID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def generate_device_uid():
    """``dev_`` and 20 random base32 characters (100 bits): unguessable and URL-safe."""
    return "dev_" + "".join(secrets.choice(_UID_ALPHABET) for _ in range(20))


class DeviceType(TenantModel):
    """A make and model of device, with what the platform should expect of it."""

    manufacturer = models.CharField(max_length=100)
    model = models.CharField(max_length=100)
    hardware_revision = models.CharField(max_length=50, blank=True)
    device_class = models.CharField(
        max_length=20, choices=DeviceClass.choices, default=DeviceClass.SENSOR
    )
    heartbeat_interval = models.PositiveIntegerField(
        default=60,
        validators=[MinValueValidator(5)],
        help_text="Seconds between heartbeats the device is expected to send.",
    )
    support_ends_on = models.DateField(
        null=True, blank=True, help_text="End of the manufacturer's security-update support."
    )
    supports_certificates = models.BooleanField(default=True)
    supports_ota = models.BooleanField(default=True)
    description = models.TextField(blank=True)

    role_permissions = {
        "view": ALL_ROLES,
        "add": FLEET_WRITERS,
        "change": FLEET_WRITERS,
        "delete": ADMIN_ONLY,
    }

    class Meta:
        ordering = ["manufacturer", "model", "hardware_revision"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "manufacturer", "model", "hardware_revision"],
                name="device_type_unique_per_org",
            ),
        ]

    def __str__(self):
        rev = f" rev {self.hardware_revision}" if self.hardware_revision else ""
        return f"{self.manufacturer} {self.model}{rev}"

    @property
    def support_ended(self):
        from django.utils import timezone

        return self.support_ends_on is not None and self.support_ends_on < timezone.localdate()


class Tag(TenantModel):
    """A free label on devices (``building-a``, ``pilot``), used to target rollouts and filter."""

    name = models.SlugField(max_length=50)

    role_permissions = {
        "view": ALL_ROLES,
        "add": FIELD_WRITERS,
        "change": FLEET_WRITERS,
        "delete": FLEET_WRITERS,
    }

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="tag_unique_per_org"),
        ]

    def __str__(self):
        return self.name


class Device(TenantModel):
    """One physical device the organization owns, from procurement to disposal."""

    uid = models.CharField(
        max_length=24,
        unique=True,
        default=generate_device_uid,
        editable=False,
        help_text="The platform's immutable device id (certificate CN, API and MQTT identity).",
    )
    site = models.ForeignKey(
        "tenancy.Site", null=True, blank=True, on_delete=models.PROTECT, related_name="devices"
    )
    device_type = models.ForeignKey(DeviceType, on_delete=models.PROTECT, related_name="devices")
    manufacturer = models.CharField(
        max_length=100,
        editable=False,
        help_text="Copied from the type; serials are unique per maker.",
    )
    serial_number = models.CharField(max_length=100)
    name = models.CharField(max_length=200)
    tags = models.ManyToManyField(Tag, blank=True, related_name="devices")
    state = models.CharField(
        max_length=20,
        choices=LifecycleState.choices,
        default=LifecycleState.PROCURED,
        db_index=True,
        editable=False,
    )
    quarantined_from = models.CharField(
        max_length=20, choices=LifecycleState.choices, blank=True, editable=False
    )
    state_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    firmware_version = models.CharField(max_length=64, blank=True)
    firmware_security_version = models.PositiveIntegerField(
        default=0, help_text="Anti-rollback counter of the firmware the device last reported."
    )
    last_seen_at = models.DateTimeField(null=True, blank=True, db_index=True, editable=False)
    health = models.CharField(
        max_length=10, choices=Health.choices, default=Health.UNKNOWN, db_index=True, editable=False
    )
    network_address = models.GenericIPAddressField(null=True, blank=True)
    location_notes = models.CharField(max_length=300, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_devices",
    )
    commissioned_on = models.DateField(null=True, blank=True)
    warranty_until = models.DateField(null=True, blank=True)
    criticality = models.CharField(
        max_length=10, choices=Criticality.choices, default=Criticality.MEDIUM
    )
    # Per-device token for devices without certificates (stored as a keyed hash).
    token_prefix = models.CharField(max_length=12, blank=True, db_index=True, editable=False)
    token_hash = models.CharField(max_length=64, blank=True, editable=False)
    token_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)

    site_lookup = "site"
    role_permissions = {
        "view": ALL_ROLES,
        "add": FLEET_WRITERS,
        "change": FIELD_WRITERS,
        "delete": ADMIN_ONLY,
        "transition": ALL_TRANSITION_ROLES,
        "move": FLEET_WRITERS,
        "credentials": FLEET_WRITERS | {Role.SECURITY_OFFICER},
        # Working on the decommissioning checklist (each item narrows further, see choices).
        "decommission": FIELD_WRITERS | {Role.SECURITY_OFFICER},
    }
    audit_exclude = ("token_hash",)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "manufacturer", "serial_number"],
                name="serial_unique_per_manufacturer",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "state"]),
            models.Index(fields=["organization", "health"]),
            # The web list's default sort (name, pk) within an organization, page by page.
            models.Index(fields=["organization", "name", "id"], name="device_org_name_id"),
            # Vulnerability exposure counts devices per (type, firmware) of an organization
            # (``COUNT(id) ... GROUP BY``): an index-only scan with state and id included reads
            # about a ninth of the pages of a heap scan at 100k devices (docs/performance.md).
            models.Index(
                fields=["organization", "device_type", "firmware_version"],
                include=["state", "id"],
                name="device_exposure",
            ),
        ]

    def __str__(self):
        return self.name or self.uid

    def save(self, *args, **kwargs):
        if self.device_type_id and not self.manufacturer:
            self.manufacturer = self.device_type.manufacturer
        super().save(*args, **kwargs)

    def clean(self):
        from django.core.exceptions import ValidationError

        if self.device_type_id:
            self.manufacturer = self.device_type.manufacturer
            if self.organization_id and self.device_type.organization_id != self.organization_id:
                raise ValidationError({"device_type": "Must belong to the same organization."})
        if (
            self.site_id
            and self.organization_id
            and self.site.organization_id != self.organization_id
        ):
            raise ValidationError({"site": "Must belong to the same organization."})
        if self.site_id is None and self.state in SITED_STATES:
            raise ValidationError(
                {"site": f"A {self.get_state_display().lower()} device must stay at a site."}
            )

    @property
    def is_active(self):
        return self.state in ACTIVE_STATES

    @property
    def state_colour(self):
        return STATE_COLOURS[self.state]

    @property
    def health_colour(self):
        return HEALTH_COLOURS[self.health]
