"""Risk matrices: likelihood and impact scales, levels and the grid, per organization, as data."""

from django.db import models

from encompass.tenancy.models import TenantModel
from encompass.tenancy.roles import ALL_ROLES, SECURITY

from .. import matrix as matrix_data


class RiskMatrix(TenantModel):
    """How an organization turns likelihood × impact into a risk level."""

    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    definition = models.JSONField(help_text="likelihood, impact, levels and grid; see docs/risk.md")
    is_default = models.BooleanField(default=False, help_text="Used for new risks.")

    role_permissions = {
        "view": ALL_ROLES,
        "add": SECURITY,
        "change": SECURITY,
        "delete": SECURITY,
    }

    class Meta:
        ordering = ["-is_default", "name", "pk"]
        verbose_name_plural = "risk matrices"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="risk_matrix_name_per_org"
            ),
            models.UniqueConstraint(
                fields=["organization"],
                condition=models.Q(is_default=True),
                name="risk_matrix_one_default_per_org",
            ),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        matrix_data.validate_definition(self.definition)

    # Convenience accessors used by templates and the heat map.
    @property
    def likelihood_levels(self):
        return self.definition["likelihood"]

    @property
    def impact_levels(self):
        return self.definition["impact"]

    @property
    def levels(self):
        return self.definition["levels"]

    def level(self, code):
        return matrix_data.level_info(self, code)

    def label(self, axis, value):
        scale = self.definition[axis]
        return scale[value - 1]["label"] if value and 1 <= value <= len(scale) else ""
