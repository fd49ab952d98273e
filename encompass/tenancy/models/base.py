"""What every tenant-owned model inherits: its organization, timestamps and ``restrict()``."""

from django.db import models

from ..access import restrict_queryset
from ..roles import DEFAULT_ROLE_PERMISSIONS


class RestrictedQuerySet(models.QuerySet):
    """A queryset that knows how to narrow itself to what a user may see or do."""

    def restrict(self, user, action="view"):
        return restrict_queryset(self, user, action)


class RestrictedManager(models.Manager.from_queryset(RestrictedQuerySet)):
    pass


class TenantModel(models.Model):
    """A row that belongs to exactly one organization.

    ``tenant_lookup`` / ``site_lookup`` are the ORM paths ``restrict()`` follows;
    ``role_permissions`` maps each action to the roles that may perform it.
    """

    organization = models.ForeignKey(
        "tenancy.Organization", on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RestrictedManager()

    tenant_lookup = "organization"
    site_lookup = None
    role_permissions = DEFAULT_ROLE_PERMISSIONS
    # Fields never copied into audit before/after snapshots (secrets, hashes, blobs).
    audit_exclude = ()

    class Meta:
        abstract = True
