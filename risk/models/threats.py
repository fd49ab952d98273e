"""Threats: the shipped IoT catalogue (organization NULL, read-only) plus organizations' own."""

from django.db import models
from django.db.models import Q

from encompass.tenancy.access import access_q, all_roles_of
from encompass.tenancy.models import RestrictedQuerySet

from ..choices import Stride
from .common import REGISTER_PERMISSIONS


class ThreatQuerySet(RestrictedQuerySet):
    """``restrict`` that also shows the shipped catalogue (organization NULL) to every member."""

    def restrict(self, user, action="view"):
        q = access_q(user, self.model, action)
        if action == "view" and q is not None and all_roles_of(user):
            q |= Q(organization__isnull=True)  # members of any organization read the catalogue
        if q is None:
            return self.none()
        return self.filter(q)


class Threat(models.Model):
    """A way things go wrong, with its STRIDE category and the objectives it harms."""

    organization = models.ForeignKey(
        "tenancy.Organization",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Empty for the shipped catalogue.",
    )
    code = models.SlugField(max_length=60)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    stride = models.CharField("STRIDE category", max_length=30, choices=Stride.choices)
    confidentiality = models.BooleanField(default=False)
    integrity = models.BooleanField(default=False)
    availability = models.BooleanField(default=False)
    safety = models.BooleanField(default=False)
    catalogue_version = models.PositiveIntegerField(
        null=True, blank=True, editable=False, help_text="Catalogue version that shipped it."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = models.Manager.from_queryset(ThreatQuerySet)()

    tenant_lookup = "organization"
    site_lookup = None
    role_permissions = REGISTER_PERMISSIONS
    audit_exclude = ()

    class Meta:
        ordering = ["stride", "name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["code"],
                condition=Q(organization__isnull=True),
                name="risk_threat_shipped_code_unique",
            ),
            models.UniqueConstraint(
                fields=["organization", "code"],
                condition=Q(organization__isnull=False),
                name="risk_threat_code_per_org",
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def shipped(self):
        return self.organization_id is None

    @property
    def objectives(self):
        return [
            name
            for name in ("confidentiality", "integrity", "availability", "safety")
            if getattr(self, name)
        ]
