"""Organizations (tenants) and their sites, with guardian's direct object-permission tables."""

from django.core.validators import RegexValidator
from django.db import models
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from ..roles import ADMIN_ONLY, ALL_ROLES, role_permission_choices
from .base import RestrictedManager

slug_validator = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$",
    "Use 1-50 lowercase letters, digits and hyphens, not starting or ending with a hyphen.",
)


class Organization(models.Model):
    """A tenant: a company or business unit that owns a fleet."""

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=50, unique=True, validators=[slug_validator])
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RestrictedManager()

    tenant_lookup = "pk"
    site_lookup = None
    role_permissions = {
        "view": ALL_ROLES,
        "add": frozenset(),  # organizations are created by platform operators (manage.py)
        "change": ADMIN_ONLY,
        "delete": frozenset(),
        "manage_members": ADMIN_ONLY,
    }
    audit_exclude = ()

    class Meta:
        ordering = ["name"]
        permissions = role_permission_choices("organization")

    def __str__(self):
        return self.name

    @property
    def organization(self):
        return self

    @property
    def organization_id(self):
        return self.pk


class Site(models.Model):
    """A physical location inside an organization (a plant, a building, a substation)."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="sites")
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=50, validators=[slug_validator])
    address = models.TextField(blank=True)
    time_zone = models.CharField(max_length=64, default="UTC")
    latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RestrictedManager()

    tenant_lookup = "organization"
    site_lookup = "pk"
    role_permissions = {
        "view": ALL_ROLES,
        "add": ADMIN_ONLY,
        "change": ADMIN_ONLY,
        "delete": ADMIN_ONLY,
    }
    audit_exclude = ()

    class Meta:
        ordering = ["organization__name", "name"]
        permissions = role_permission_choices("site")
        constraints = [
            models.UniqueConstraint(fields=["organization", "slug"], name="site_slug_per_org"),
            models.UniqueConstraint(fields=["organization", "name"], name="site_name_per_org"),
        ]

    def __str__(self):
        return self.name


class OrganizationUserObjectPermission(UserObjectPermissionBase):
    """A role (or another permission) held by a user on one organization."""

    content_object = models.ForeignKey(Organization, on_delete=models.CASCADE)


class OrganizationGroupObjectPermission(GroupObjectPermissionBase):
    """A role (or another permission) held by a group on one organization."""

    content_object = models.ForeignKey(Organization, on_delete=models.CASCADE)


class SiteUserObjectPermission(UserObjectPermissionBase):
    """A role held by a user on one site (a site-narrowed membership)."""

    content_object = models.ForeignKey(Site, on_delete=models.CASCADE)


class SiteGroupObjectPermission(GroupObjectPermissionBase):
    """A role held by a group on one site."""

    content_object = models.ForeignKey(Site, on_delete=models.CASCADE)
