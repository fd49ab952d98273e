"""Lessons learned: the post-incident review, its follow-up actions and the risks it raised."""

from django.conf import settings
from django.db import models

from encompass.tenancy.models import TenantModel

from .incident import READERS, RESPONDER_ROLES, RUNNERS


class PostIncidentReview(TenantModel):
    """What happened, why, what worked and what to change; completing it allows closing."""

    incident = models.OneToOneField(
        "incidents.Incident", on_delete=models.CASCADE, related_name="review"
    )
    what_happened = models.TextField(blank=True)
    root_cause = models.TextField(blank=True)
    what_worked = models.TextField(blank=True)
    what_to_change = models.TextField(blank=True)
    completed_at = models.DateTimeField(null=True, blank=True, editable=False)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )

    REQUIRED = ("what_happened", "root_cause", "what_worked", "what_to_change")
    role_permissions = {"view": READERS, "add": RUNNERS, "change": RUNNERS, "delete": frozenset()}

    def __str__(self):
        return f"Review of incident {self.incident_id}"

    @property
    def is_complete(self):
        return self.completed_at is not None


class IncidentAction(TenantModel):
    """A follow-up action from the review, optionally against a compliance requirement."""

    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.CASCADE, related_name="follow_up_actions"
    )
    text = models.TextField()
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    due_on = models.DateField(null=True, blank=True)
    requirement_ref = models.CharField(
        max_length=120,
        blank=True,
        help_text='A compliance requirement identifier, e.g. "ETSI EN 303 645 5.3-2".',
    )
    done = models.BooleanField(default=False)
    done_at = models.DateTimeField(null=True, blank=True)

    role_permissions = {
        "view": READERS,
        "add": RUNNERS,
        "change": RESPONDER_ROLES,
        "delete": RUNNERS,
    }

    class Meta:
        ordering = ["incident", "due_on", "pk"]

    def __str__(self):
        return self.text[:80]


class IncidentRisk(TenantModel):
    """A risk the review created in the risk register (kept by id: the register owns the row)."""

    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.CASCADE, related_name="created_risks"
    )
    risk_id = models.PositiveBigIntegerField()
    title = models.CharField(max_length=300)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    role_permissions = {
        "view": READERS,
        "add": RUNNERS,
        "change": frozenset(),
        "delete": frozenset(),
    }

    class Meta:
        ordering = ["incident", "pk"]

    def __str__(self):
        return self.title
