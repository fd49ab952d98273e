"""Rollouts: a release offered to a target fleet in waves, and each device's update."""

import datetime

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from encompass.tenancy.models import TenantModel
from encompass.tenancy.roles import ADMIN_ONLY, ALL_ROLES

from ..choices import (
    FLEET_ROLES,
    SECURITY_ROLES,
    STAFF_WRITERS,
    FailureAction,
    RolloutStatus,
    UpdateStatus,
    WaveStatus,
)

percent = [MinValueValidator(0), MaxValueValidator(100)]


def default_waves():
    return [{"percent": 1}, {"percent": 10}, {"percent": 50}, {"percent": 100}]


class Rollout(TenantModel):
    """A release offered to a target set of deployed devices, wave by wave."""

    name = models.CharField(max_length=200)
    release = models.ForeignKey(
        "firmware.FirmwareRelease", on_delete=models.PROTECT, related_name="rollouts"
    )
    status = models.CharField(
        max_length=16,
        choices=RolloutStatus.choices,
        default=RolloutStatus.DRAFT,
        db_index=True,
        editable=False,
    )
    # --- target ---
    device_type = models.ForeignKey(
        "devices.DeviceType", on_delete=models.PROTECT, related_name="rollouts"
    )
    sites = models.ManyToManyField("tenancy.Site", blank=True, related_name="rollouts")
    tags = models.ManyToManyField("devices.Tag", blank=True, related_name="rollouts")
    devices = models.ManyToManyField(
        "devices.Device",
        blank=True,
        related_name="+",
        help_text="An explicit list; when given, only these devices (still filtered by the rest).",
    )
    # --- settings ---
    waves = models.JSONField(
        default=default_waves,
        help_text='Cumulative sizes, e.g. [{"percent": 1}, {"percent": 10}, {"count": 200}, '
        '{"percent": 100}].',
    )
    success_threshold = models.PositiveSmallIntegerField(
        default=95, validators=percent, help_text="% of a wave that must succeed to advance."
    )
    failure_threshold = models.PositiveSmallIntegerField(
        default=5,
        validators=percent,
        help_text="When failures exceed this % of a wave, the failure action is taken.",
    )
    failure_action = models.CharField(
        max_length=8, choices=FailureAction.choices, default=FailureAction.PAUSE
    )
    soak_minutes = models.PositiveIntegerField(
        default=30, help_text="Wait after a wave reaches its success threshold."
    )
    manual_approval = models.BooleanField(
        default=False, help_text="Wait for a person to approve each next wave."
    )
    window_start = models.TimeField(
        null=True, blank=True, help_text="Daily maintenance window start (site local time)."
    )
    window_end = models.TimeField(null=True, blank=True)
    max_start_delay_seconds = models.PositiveIntegerField(
        default=300, help_text="Each device waits a random delay up to this before it is offered."
    )
    health_deadline_minutes = models.PositiveIntegerField(
        default=15,
        validators=[MinValueValidator(1)],
        help_text="After the device reports success, a heartbeat on the new version must arrive "
        "within this many minutes.",
    )
    update_timeout_minutes = models.PositiveIntegerField(
        default=120,
        validators=[MinValueValidator(1)],
        help_text="A device that has not reported success this long after the offer times out.",
    )
    start_at = models.DateTimeField(null=True, blank=True)
    # --- provenance ---
    rollback_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="rollbacks",
        editable=False,
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    started_at = models.DateTimeField(null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True, editable=False)
    status_reason = models.CharField(max_length=300, blank=True, editable=False)

    role_permissions = {
        "view": ALL_ROLES,
        "add": FLEET_ROLES,
        "change": FLEET_ROLES,
        "delete": ADMIN_ONLY,
        "start": FLEET_ROLES,
        "pause": STAFF_WRITERS,
        "resume": FLEET_ROLES | SECURITY_ROLES,
        "abort": STAFF_WRITERS,
        "rollback": FLEET_ROLES | SECURITY_ROLES,
        "approve_wave": STAFF_WRITERS,
    }

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["organization", "status"])]

    def __str__(self):
        return self.name

    def in_window(self, moment, tz_name="UTC"):
        """True when ``moment`` falls in the daily maintenance window (in ``tz_name``)."""
        if self.window_start is None or self.window_end is None:
            return True
        from zoneinfo import ZoneInfo

        try:
            local = moment.astimezone(ZoneInfo(tz_name or "UTC")).time()
        except (KeyError, ValueError):
            local = moment.astimezone(datetime.UTC).time()
        if self.window_start <= self.window_end:
            return self.window_start <= local < self.window_end
        return local >= self.window_start or local < self.window_end  # crosses midnight


class RolloutWave(TenantModel):
    """One stage of a rollout: its share of the devices, its state and its timing."""

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="wave_set")
    number = models.PositiveSmallIntegerField()
    planned = models.PositiveIntegerField(default=0)
    status = models.CharField(
        max_length=20, choices=WaveStatus.choices, default=WaveStatus.PENDING, editable=False
    )
    started_at = models.DateTimeField(null=True, blank=True)
    soak_started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    accepted_failures = models.PositiveIntegerField(
        default=0, help_text="Failures an operator accepted when resuming after the threshold."
    )

    role_permissions = {"view": ALL_ROLES}

    class Meta:
        ordering = ["rollout", "number"]
        constraints = [
            models.UniqueConstraint(fields=["rollout", "number"], name="wave_number_per_rollout")
        ]

    def __str__(self):
        return f"{self.rollout} wave {self.number}"


class DeviceUpdate(TenantModel):
    """One device's update within a rollout, from planned to confirmed healthy (or not)."""

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="updates")
    wave = models.ForeignKey(RolloutWave, on_delete=models.CASCADE, related_name="updates")
    device = models.ForeignKey(
        "devices.Device", on_delete=models.CASCADE, related_name="firmware_updates"
    )
    release = models.ForeignKey(
        "firmware.FirmwareRelease", on_delete=models.PROTECT, related_name="device_updates"
    )
    from_version = models.CharField(max_length=64, blank=True)
    status = models.CharField(
        max_length=20, choices=UpdateStatus.choices, default=UpdateStatus.PENDING, db_index=True
    )
    not_before = models.DateTimeField(null=True, blank=True)
    offered_at = models.DateTimeField(null=True, blank=True)
    reported_at = models.DateTimeField(null=True, blank=True)
    rebooted_at = models.DateTimeField(null=True, blank=True)
    reported_success_at = models.DateTimeField(null=True, blank=True)
    health_deadline = models.DateTimeField(null=True, blank=True)
    healthy_at = models.DateTimeField(
        null=True, blank=True, help_text="First heartbeat on the new version after the reboot."
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.CharField(max_length=500, blank=True)
    cancel_acknowledged_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the device confirmed the cancellation (hawkBit DDI cancelAction).",
    )

    site_lookup = "device__site"
    role_permissions = {"view": ALL_ROLES}

    class Meta:
        ordering = ["rollout", "wave__number", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["rollout", "device"], name="one_update_per_rollout")
        ]
        indexes = [
            models.Index(fields=["device", "status"]),
            models.Index(fields=["rollout", "status"]),
        ]

    def __str__(self):
        return f"{self.device} → {self.release.version} ({self.status})"


__all__ = ["DeviceUpdate", "Rollout", "RolloutWave"]
