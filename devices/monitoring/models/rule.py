"""Alert rules, and the per-device statistics the anomaly and rate rules learn from."""

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models

from encompass.tenancy.models import TenantModel
from encompass.tenancy.roles import ALL_ROLES, Role

from ..choices import SECURITY_SIGNALS, AlertSeverity, Comparison, RuleKind

RULE_WRITERS = frozenset({Role.ADMIN, Role.SECURITY_OFFICER, Role.OPERATOR})

# Which fields each kind needs (validated in ``clean`` so the API and admin name the field).
REQUIRED_FIELDS = {
    RuleKind.THRESHOLD: ("metric", "comparison", "threshold"),
    RuleKind.RATE_OF_CHANGE: ("metric", "threshold"),
    RuleKind.ABSENCE: (),
    RuleKind.ANOMALY: ("metric",),
    RuleKind.SECURITY_COUNT: ("signal", "count", "window_minutes"),
    RuleKind.FIRMWARE_MISMATCH: ("expected_firmware",),
    RuleKind.CERTIFICATE_EXPIRY: ("days_before",),
}


class AlertRule(TenantModel):
    """A condition on what devices report that raises (and, when it clears, resolves) an alert."""

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)
    kind = models.CharField(max_length=20, choices=RuleKind.choices)
    severity = models.CharField(
        max_length=10, choices=AlertSeverity.choices, default=AlertSeverity.MEDIUM
    )
    metric = models.CharField(
        max_length=64, blank=True, help_text="Telemetry metric name, e.g. temp_c."
    )
    comparison = models.CharField(max_length=3, choices=Comparison.choices, blank=True)
    threshold = models.FloatField(
        null=True,
        blank=True,
        help_text="Threshold value; for rate of change, the largest allowed change per minute.",
    )
    window_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Security count: the window. Absence: silence longer than this (default: "
        "3 heartbeat intervals of the device type).",
    )
    count = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="Security count: N."
    )
    signal = models.CharField(
        max_length=64,
        blank=True,
        help_text="Security count: the signal counted (auth_failure, port_scan, ...).",
    )
    sigma = models.FloatField(
        default=4.0,
        validators=[MinValueValidator(0.5)],
        help_text="Anomaly: flag values more than this many standard deviations from the mean.",
    )
    min_samples = models.PositiveIntegerField(
        default=30,
        validators=[MinValueValidator(2)],
        help_text="Anomaly: samples a device must report before its normal is trusted.",
    )
    expected_firmware = models.CharField(max_length=64, blank=True)
    days_before = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Certificate expiry: days before expiry to alert.",
    )
    device_type = models.ForeignKey(
        "devices.DeviceType", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    site = models.ForeignKey(
        "tenancy.Site", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    tag = models.ForeignKey(
        "devices.Tag", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    auto_resolve = models.BooleanField(
        default=True, help_text="Resolve the alert automatically when the condition clears."
    )

    role_permissions = {
        "view": ALL_ROLES,
        "add": RULE_WRITERS,
        "change": RULE_WRITERS,
        "delete": RULE_WRITERS,
    }

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="alert_rule_name_per_org")
        ]
        indexes = [models.Index(fields=["organization", "enabled", "kind"])]

    def __str__(self):
        return self.name

    def clean(self):
        errors = {}
        for name in REQUIRED_FIELDS.get(self.kind, ()):
            if getattr(self, name) in (None, ""):
                errors[name] = f"Required for a {self.get_kind_display().lower()} rule."
        if (
            self.kind == RuleKind.SECURITY_COUNT
            and self.signal
            and (self.signal not in SECURITY_SIGNALS)
        ):
            errors["signal"] = f"Unknown signal; choose one of {sorted(SECURITY_SIGNALS)}."
        if (
            self.kind == RuleKind.RATE_OF_CHANGE
            and self.threshold is not None
            and (self.threshold <= 0)
        ):
            errors["threshold"] = "The allowed change per minute must be positive."
        for name in ("device_type", "site", "tag"):
            related = getattr(self, name)
            if (
                related is not None
                and self.organization_id
                and (related.organization_id != self.organization_id)
            ):
                errors[name] = "Must belong to the same organization."
        if errors:
            raise ValidationError(errors)

    def dedupe_key(self, device):
        return f"rule:{self.pk}:device:{device.pk}"

    def applies_to(self, device, tag_ids):
        return (
            (self.device_type_id is None or self.device_type_id == device.device_type_id)
            and (self.site_id is None or self.site_id == device.site_id)
            and (self.tag_id is None or self.tag_id in tag_ids)
        )


class MetricBaseline(models.Model):
    """A device's running mean and spread of one metric (Welford), and its last value."""

    organization = models.ForeignKey(
        "tenancy.Organization", on_delete=models.CASCADE, related_name="+"
    )
    device = models.ForeignKey(
        "devices.Device", on_delete=models.CASCADE, related_name="metric_baselines"
    )
    metric = models.CharField(max_length=64)
    samples = models.PositiveBigIntegerField(default=0)
    mean = models.FloatField(default=0.0)
    m2 = models.FloatField(default=0.0, help_text="Sum of squared deviations (Welford).")
    last_value = models.FloatField(null=True, blank=True)
    last_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["device", "metric"], name="one_baseline_per_metric")
        ]

    def __str__(self):
        return f"{self.device_id}:{self.metric}"

    @property
    def stddev(self):
        return (self.m2 / (self.samples - 1)) ** 0.5 if self.samples > 1 else 0.0

    def add(self, value):
        self.samples += 1
        delta = value - self.mean
        self.mean += delta / self.samples
        self.m2 += delta * (value - self.mean)
