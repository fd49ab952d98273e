"""Score history: one row per assessment (and per site) each time the score is recorded."""

from django.db import models

from encompass.tenancy.models import TenantModel
from encompass.tenancy.roles import ALL_ROLES


class ScoreSnapshot(TenantModel):
    """An assessment's score at one moment, for the whole scope or one site."""

    assessment = models.ForeignKey(
        "compliance.Assessment", on_delete=models.CASCADE, related_name="snapshots"
    )
    site = models.ForeignKey(
        "tenancy.Site", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    taken_at = models.DateTimeField(db_index=True)
    reason = models.CharField(max_length=30)
    score = models.DecimalField(max_digits=5, decimal_places=2)
    mandatory_score = models.DecimalField(max_digits=5, decimal_places=2, null=True)
    compliant = models.PositiveIntegerField(default=0)
    partially_compliant = models.PositiveIntegerField(default=0)
    non_compliant = models.PositiveIntegerField(default=0)
    not_assessed = models.PositiveIntegerField(default=0)
    not_applicable = models.PositiveIntegerField(default=0)
    stale = models.PositiveIntegerField(default=0)

    site_lookup = "site"
    role_permissions = {
        "view": ALL_ROLES,
        "add": frozenset(),
        "change": frozenset(),
        "delete": frozenset(),
    }

    class Meta:
        ordering = ["-taken_at", "-pk"]
        indexes = [models.Index(fields=["assessment", "site", "-taken_at"])]

    def __str__(self):
        return f"{self.assessment} {self.score}% @ {self.taken_at:%Y-%m-%d %H:%M}"
