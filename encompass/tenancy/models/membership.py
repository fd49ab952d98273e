"""Who belongs to which organization, in which role, optionally narrowed to sites."""

from django.conf import settings
from django.db import models

from ..roles import ADMIN_ONLY, ALL_ROLES, Role
from .base import TenantModel


class Membership(TenantModel):
    """A user's role in one organization; with ``sites`` set, only on those sites."""

    organization = models.ForeignKey(
        "tenancy.Organization", on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=32, choices=Role.choices)
    sites = models.ManyToManyField(
        "tenancy.Site",
        blank=True,
        related_name="memberships",
        help_text="Leave empty for the whole organization; otherwise the role holds on these only.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    role_permissions = {
        "view": ALL_ROLES,
        "add": ADMIN_ONLY,
        "change": ADMIN_ONLY,
        "delete": ADMIN_ONLY,
    }

    class Meta:
        ordering = ["organization__name", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="one_membership_per_org"),
        ]

    def __str__(self):
        return f"{self.user} — {self.get_role_display()} in {self.organization}"

    @property
    def is_site_scoped(self):
        return self.pk is not None and self.sites.exists()
