"""Framework catalogues: global, read-only data loaded from ``compliance/frameworks/*.json``."""

from django.db import models

from encompass.tenancy.models import RestrictedQuerySet
from encompass.tenancy.roles import ALL_ROLES

from ..choices import MappingRelation, Obligation

READ_ONLY = {"view": ALL_ROLES, "add": frozenset(), "change": frozenset(), "delete": frozenset()}


class CatalogueQuerySet(RestrictedQuerySet):
    """Catalogue rows belong to no tenant: every signed-in member may read them; nobody writes
    them through ``restrict`` (only ``load_frameworks`` does)."""

    def restrict(self, user, action="view"):
        from encompass.tenancy.access import all_roles_of

        if action == "view" and all_roles_of(user):
            return self.all()
        return self.none()


CatalogueManager = models.Manager.from_queryset(CatalogueQuerySet)


class Framework(models.Model):
    """One edition of a standard (code + version), at a data revision of our catalogue file."""

    code = models.SlugField(max_length=50)
    name = models.CharField(max_length=200)
    version = models.CharField(max_length=30)
    data_revision = models.PositiveIntegerField()
    publisher = models.CharField(max_length=100, blank=True)
    url = models.URLField(max_length=500, blank=True)
    description = models.TextField(blank=True)
    notes = models.TextField(blank=True)
    # When and how the catalogue file was last checked against the published standard.
    verified_on = models.DateField(null=True, blank=True)
    verification = models.TextField(blank=True)
    source_file = models.CharField(max_length=200, blank=True)
    loaded_at = models.DateTimeField()

    objects = CatalogueManager()

    tenant_lookup = None
    role_permissions = READ_ONLY

    class Meta:
        ordering = ["name", "version"]
        constraints = [
            models.UniqueConstraint(fields=["code", "version"], name="framework_code_version"),
        ]

    def __str__(self):
        return f"{self.name} {self.version}"


class Requirement(models.Model):
    """A clause, group or assessable requirement of a framework, in document order."""

    framework = models.ForeignKey(Framework, on_delete=models.PROTECT, related_name="requirements")
    ref = models.CharField(max_length=40)
    title = models.CharField(max_length=300)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    assessable = models.BooleanField(default=True)
    order = models.PositiveIntegerField()
    depth = models.PositiveSmallIntegerField(default=0)
    obligation = models.CharField(max_length=12, choices=Obligation.choices, blank=True)
    conditional = models.BooleanField(default=False)
    condition = models.TextField(blank=True)
    guidance = models.TextField(blank=True)
    security_level = models.PositiveSmallIntegerField(null=True, blank=True)
    # Refs of the previous version of the framework this requirement replaces (a split or a
    # renumbering); read when assessments are migrated to this version.
    supersedes = models.JSONField(default=list, blank=True)
    # Set when a newer data revision no longer lists the requirement (rows are never deleted).
    withdrawn_in_revision = models.PositiveIntegerField(null=True, blank=True)

    objects = CatalogueManager()

    tenant_lookup = None
    role_permissions = READ_ONLY

    class Meta:
        ordering = ["framework", "order"]
        constraints = [
            models.UniqueConstraint(fields=["framework", "ref"], name="requirement_ref_unique"),
        ]

    def __str__(self):
        return f"{self.ref} {self.title}"

    @property
    def withdrawn(self):
        return self.withdrawn_in_revision is not None

    @property
    def is_mandatory(self):
        return self.obligation == Obligation.MANDATORY


class RequirementMapping(models.Model):
    """A requirement of one framework that meets (part of) a requirement of another."""

    source = models.ForeignKey(Requirement, on_delete=models.CASCADE, related_name="mappings_out")
    target = models.ForeignKey(Requirement, on_delete=models.CASCADE, related_name="mappings_in")
    relation = models.CharField(max_length=12, choices=MappingRelation.choices)
    note = models.TextField(blank=True)

    objects = CatalogueManager()

    tenant_lookup = None
    role_permissions = READ_ONLY

    class Meta:
        ordering = ["source__framework", "source__order", "target__framework", "target__order"]
        constraints = [
            models.UniqueConstraint(fields=["source", "target"], name="mapping_unique_pair"),
        ]

    def __str__(self):
        return f"{self.source.ref} {self.relation} {self.target.ref}"
