"""Assessments of an organization against a framework, and the result of each requirement."""

from django.conf import settings
from django.db import models

from encompass.tenancy.models import TenantModel
from encompass.tenancy.roles import ALL_ROLES

from ..choices import (
    CHECK_RUNNERS,
    EVIDENCE_WRITERS,
    EXPORTERS,
    SECURITY,
    AssessmentStatus,
    Result,
    ResultSource,
)


class Assessment(TenantModel):
    """An organization's assessment against one framework, over all or some sites / types."""

    framework = models.ForeignKey(
        "compliance.Framework", on_delete=models.PROTECT, related_name="assessments"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(
        max_length=12,
        choices=AssessmentStatus.choices,
        default=AssessmentStatus.DRAFT,
        editable=False,
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_assessments",
    )
    sites = models.ManyToManyField(
        "tenancy.Site",
        blank=True,
        related_name="+",
        help_text="Leave empty for every site of the organization.",
    )
    device_types = models.ManyToManyField(
        "devices.DeviceType",
        blank=True,
        related_name="+",
        help_text="Leave empty for every device type.",
    )
    started_at = models.DateTimeField(null=True, blank=True, editable=False)
    completed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )

    role_permissions = {
        "view": ALL_ROLES,
        "add": SECURITY,
        "change": SECURITY,
        "delete": SECURITY,
        "assess": SECURITY,
        "evidence": EVIDENCE_WRITERS,
        "export": EXPORTERS,
        "run_checks": CHECK_RUNNERS,
    }

    class Meta:
        ordering = ["-created_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="assessment_name_per_org"
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def is_live(self):
        return self.status != AssessmentStatus.COMPLETED


class RequirementResult(TenantModel):
    """The result of one assessable requirement within an assessment."""

    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="results")
    requirement = models.ForeignKey(
        "compliance.Requirement", on_delete=models.PROTECT, related_name="results"
    )
    result = models.CharField(max_length=20, choices=Result.choices, default=Result.NOT_ASSESSED)
    source = models.CharField(
        max_length=8, choices=ResultSource.choices, default=ResultSource.CHECK
    )
    # What the latest runs of the checks mapped to this requirement suggest (None: no check).
    suggested_result = models.CharField(max_length=20, choices=Result.choices, blank=True)
    justification = models.TextField(
        blank=True, help_text="Why the requirement does not apply, or why a check is overridden."
    )
    notes = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )

    role_permissions = {
        "view": ALL_ROLES,
        "add": frozenset(),  # created with their assessment
        "change": SECURITY,
        "delete": frozenset(),
    }

    class Meta:
        ordering = ["assessment", "requirement__order"]
        constraints = [
            models.UniqueConstraint(
                fields=["assessment", "requirement"], name="one_result_per_requirement"
            ),
        ]
        indexes = [models.Index(fields=["organization", "result"])]

    def __str__(self):
        return f"{self.requirement.ref}: {self.get_result_display()}"
