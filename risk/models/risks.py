"""Risks: a scenario, what it touches, its inherent and residual level, treatment and acceptance."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from encompass.tenancy.models import RestrictedQuerySet, TenantModel

from ..choices import ACCEPTANCE_EXPIRED, RiskStatus, Treatment
from .common import ACCEPTERS, REGISTER_PERMISSIONS


class RiskQuerySet(RestrictedQuerySet):
    def acceptance_expired(self, now=None):
        return self.filter(
            status=RiskStatus.ACCEPTED, acceptance_expires_at__lte=now or timezone.now()
        )

    def with_effective_status(self, status, now=None):
        """Filter by the status a person sees (``acceptance_expired`` is computed)."""
        now = now or timezone.now()
        if status == ACCEPTANCE_EXPIRED:
            return self.acceptance_expired(now)
        if status == RiskStatus.ACCEPTED:
            return self.filter(status=status).exclude(acceptance_expires_at__lte=now)
        return self.filter(status=status)

    def review_overdue(self, today=None):
        return self.exclude(status=RiskStatus.CLOSED).filter(
            review_due_on__lt=today or timezone.localdate()
        )


class RiskSequence(models.Model):
    """The last risk reference number issued in an organization (RSK-001, RSK-002 ...)."""

    organization = models.OneToOneField(
        "tenancy.Organization", on_delete=models.CASCADE, related_name="+"
    )
    last = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.organization_id}: {self.last}"


class Risk(TenantModel):
    """One risk scenario in the register."""

    reference = models.CharField(max_length=20, editable=False)
    title = models.CharField(max_length=200)
    scenario = models.TextField(help_text="What could happen, how, and with what consequence.")
    source = models.CharField(
        max_length=200, blank=True, help_text="Where it came from, e.g. incident INC-2026-0004."
    )
    matrix = models.ForeignKey("risk.RiskMatrix", on_delete=models.PROTECT, related_name="risks")
    assets = models.ManyToManyField("risk.Asset", blank=True, related_name="risks")
    threats = models.ManyToManyField("risk.Threat", blank=True, related_name="risks")
    vulnerabilities = models.ManyToManyField("risk.Vulnerability", blank=True, related_name="risks")
    inherent_likelihood = models.PositiveSmallIntegerField()
    inherent_impact = models.PositiveSmallIntegerField()
    inherent_level = models.CharField(max_length=30, editable=False, db_index=True)
    current_controls = models.TextField(blank=True)
    residual_likelihood = models.PositiveSmallIntegerField(null=True, blank=True)
    residual_impact = models.PositiveSmallIntegerField(null=True, blank=True)
    residual_level = models.CharField(max_length=30, blank=True, editable=False, db_index=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    treatment = models.CharField(
        max_length=10, choices=Treatment.choices, default=Treatment.MITIGATE
    )
    status = models.CharField(
        max_length=10, choices=RiskStatus.choices, default=RiskStatus.OPEN, editable=False
    )
    review_due_on = models.DateField(null=True, blank=True)
    last_reviewed_at = models.DateTimeField(null=True, blank=True, editable=False)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    accepted_at = models.DateTimeField(null=True, blank=True, editable=False)
    acceptance_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    acceptance_justification = models.TextField(blank=True, editable=False)
    closed_at = models.DateTimeField(null=True, blank=True, editable=False)
    closure_reason = models.TextField(blank=True, editable=False)

    objects = models.Manager.from_queryset(RiskQuerySet)()

    role_permissions = {
        **REGISTER_PERMISSIONS,
        "accept": ACCEPTERS,
    }

    class Meta:
        ordering = ["reference", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "reference"], name="risk_reference_per_org"
            ),
            models.CheckConstraint(
                condition=Q(residual_likelihood__isnull=True)
                | Q(residual_likelihood__lte=models.F("inherent_likelihood")),
                name="risk_residual_likelihood_not_above_inherent",
            ),
            models.CheckConstraint(
                condition=Q(residual_impact__isnull=True)
                | Q(residual_impact__lte=models.F("inherent_impact")),
                name="risk_residual_impact_not_above_inherent",
            ),
            models.CheckConstraint(
                condition=~Q(status="accepted") | Q(treatment="accept"),
                name="risk_accepted_only_when_treatment_accept",
            ),
        ]
        indexes = [models.Index(fields=["organization", "status", "inherent_level"])]

    def __str__(self):
        return f"{self.reference} {self.title}"

    @property
    def acceptance_expired(self):
        return (
            self.status == RiskStatus.ACCEPTED
            and self.acceptance_expires_at is not None
            and self.acceptance_expires_at <= timezone.now()
        )

    @property
    def effective_status(self):
        return ACCEPTANCE_EXPIRED if self.acceptance_expired else self.status

    def get_effective_status_display(self):
        return "Acceptance expired" if self.acceptance_expired else self.get_status_display()

    @property
    def review_overdue(self):
        return (
            self.status != RiskStatus.CLOSED
            and self.review_due_on is not None
            and self.review_due_on < timezone.localdate()
        )

    @property
    def current_level(self):
        """The level that applies now: residual once assessed, else inherent."""
        return self.residual_level or self.inherent_level
