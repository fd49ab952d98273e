"""Service levels per severity (per organization), breaches found by the SLA job, and the rules
that escalate alerts to incidents automatically."""

from django.core.validators import MinValueValidator
from django.db import models

from encompass.tenancy.models import TenantModel

from ..choices import Category, IncidentSeverity, SlaMetric
from .incident import READERS, RUNNERS


class SlaPolicy(TenantModel):
    """How fast an incident of one severity must be acknowledged, contained and resolved."""

    severity = models.CharField(max_length=10, choices=IncidentSeverity.choices)
    acknowledge_minutes = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    contain_minutes = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    resolve_minutes = models.PositiveIntegerField(validators=[MinValueValidator(1)])

    role_permissions = {"view": READERS, "add": RUNNERS, "change": RUNNERS, "delete": RUNNERS}

    class Meta:
        ordering = ["organization", "severity"]
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"
        constraints = [
            models.UniqueConstraint(fields=["organization", "severity"], name="sla_per_severity"),
        ]

    def __str__(self):
        return f"SLA {self.get_severity_display()}"

    def clean(self):
        from django.core.exceptions import ValidationError

        if (
            self.acknowledge_minutes
            and self.contain_minutes
            and self.resolve_minutes
            and not (self.acknowledge_minutes <= self.contain_minutes <= self.resolve_minutes)
        ):
            raise ValidationError({"contain_minutes": "Expect acknowledge ≤ contain ≤ resolve."})


class SlaBreach(TenantModel):
    """An SLA clock that ran out; flagged once per incident and metric."""

    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.CASCADE, related_name="sla_breaches"
    )
    metric = models.CharField(max_length=12, choices=SlaMetric.choices)
    due_at = models.DateTimeField()
    detected_at = models.DateTimeField()
    alert = models.ForeignKey(
        "monitoring.Alert", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    role_permissions = {
        "view": READERS,
        "add": frozenset(),
        "change": frozenset(),
        "delete": frozenset(),
    }

    class Meta:
        ordering = ["-detected_at"]
        verbose_name = "SLA breach"
        constraints = [
            models.UniqueConstraint(fields=["incident", "metric"], name="one_breach_per_metric"),
        ]

    def __str__(self):
        return f"{self.get_metric_display()} breached"


class EscalationRule(TenantModel):
    """Open alerts at or above a severity become an incident of a category, with a playbook."""

    name = models.CharField(max_length=200)
    enabled = models.BooleanField(default=True)
    min_alert_severity = models.CharField(
        max_length=10, choices=IncidentSeverity.choices, default=IncidentSeverity.HIGH
    )
    alert_kind_prefix = models.CharField(
        max_length=64, blank=True, help_text="Only alerts whose kind starts with this (blank: all)."
    )
    category = models.CharField(max_length=32, choices=Category.choices)
    incident_severity = models.CharField(
        max_length=10,
        choices=IncidentSeverity.choices,
        blank=True,
        help_text="Blank: the alert's own severity.",
    )
    playbook = models.ForeignKey(
        "incidents.Playbook", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    role_permissions = {"view": READERS, "add": RUNNERS, "change": RUNNERS, "delete": RUNNERS}

    class Meta:
        ordering = ["organization", "name"]

    def __str__(self):
        return self.name
