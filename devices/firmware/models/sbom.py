"""Software bills of materials: the document kept for a release, its components and their edges."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from encompass.tenancy.models import TenantModel
from encompass.tenancy.roles import ADMIN_ONLY, ALL_ROLES

from ..choices import STAFF_WRITERS


class SbomFormat(models.TextChoices):
    CYCLONEDX_JSON = "cyclonedx-json", "CycloneDX JSON"
    CYCLONEDX_XML = "cyclonedx-xml", "CycloneDX XML"
    SPDX_JSON = "spdx-json", "SPDX JSON"
    SPDX_TAG_VALUE = "spdx-tag-value", "SPDX tag-value"


SBOM_PERMISSIONS = {
    "view": ALL_ROLES,
    "add": STAFF_WRITERS,
    "change": STAFF_WRITERS,
    "delete": ADMIN_ONLY,
}


class SoftwareBill(TenantModel):
    """One uploaded SBOM document of a firmware release; a replaced one is kept, superseded."""

    release = models.ForeignKey(
        "firmware.FirmwareRelease", on_delete=models.CASCADE, related_name="software_bills"
    )
    format = models.CharField(max_length=20, choices=SbomFormat.choices)
    spec_version = models.CharField(max_length=16, help_text="e.g. 1.6 (CycloneDX), SPDX-2.3.")
    serial_number = models.CharField(
        max_length=500, blank=True, help_text="CycloneDX serialNumber or SPDX documentNamespace."
    )
    document_name = models.CharField(max_length=300, blank=True)
    generator = models.CharField(max_length=500, blank=True, help_text="The tools that made it.")
    document_created_at = models.DateTimeField(null=True, blank=True)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    filename = models.CharField(max_length=200, blank=True)
    document = models.TextField(help_text="The uploaded document, exactly as received.")
    component_count = models.PositiveIntegerField(default=0)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    superseded_at = models.DateTimeField(null=True, blank=True)

    role_permissions = SBOM_PERMISSIONS
    audit_exclude = ("document",)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["release"],
                condition=Q(superseded_at__isnull=True),
                name="firmware_one_current_sbom_per_release",
            )
        ]

    def __str__(self):
        return f"{self.get_format_display()} {self.spec_version} of {self.release}"


class Component(TenantModel):
    """A package, library or file listed by an SBOM, with what identifies it for matching."""

    bill = models.ForeignKey(SoftwareBill, on_delete=models.CASCADE, related_name="components")
    release = models.ForeignKey(
        "firmware.FirmwareRelease", on_delete=models.CASCADE, related_name="sbom_components"
    )
    current = models.BooleanField(
        default=True, help_text="False once the SBOM it came from is replaced."
    )
    bom_ref = models.CharField(max_length=500, help_text="bom-ref (CycloneDX) or SPDXID.")
    type = models.CharField(max_length=32, blank=True)
    group = models.CharField(max_length=300, blank=True)
    name = models.CharField(max_length=300)
    version = models.CharField(max_length=200, blank=True)
    purl = models.CharField(max_length=1000, blank=True, help_text="Normalised package URL.")
    purl_type = models.CharField(max_length=50, blank=True)
    purl_namespace = models.CharField(max_length=300, blank=True)
    purl_name = models.CharField(max_length=300, blank=True)
    cpe = models.CharField(max_length=500, blank=True)
    supplier = models.CharField(max_length=300, blank=True)
    licenses = models.JSONField(default=list, blank=True)
    hashes = models.JSONField(default=list, blank=True, help_text='[{"alg": ..., "content": ...}]')
    is_root = models.BooleanField(
        default=False,
        help_text="The component the SBOM describes (metadata / DESCRIBES).",
    )

    role_permissions = SBOM_PERMISSIONS

    class Meta:
        ordering = ["name", "version", "pk"]
        indexes = [
            models.Index(fields=["purl"], name="firmware_component_purl"),
            models.Index(
                fields=["purl_type", "purl_namespace", "purl_name"],
                name="firmware_component_package",
            ),
            models.Index(fields=["name", "version"], name="firmware_component_name"),
            models.Index(fields=["organization", "current"], name="firmware_component_org"),
        ]

    def __str__(self):
        return f"{self.name} {self.version}".strip()


class ComponentDependency(TenantModel):
    """``source`` depends on ``target`` (CycloneDX dependencies, SPDX DEPENDS_ON)."""

    bill = models.ForeignKey(SoftwareBill, on_delete=models.CASCADE, related_name="dependencies")
    source = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="depends_on")
    target = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="required_by")

    role_permissions = SBOM_PERMISSIONS

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "target"], name="firmware_component_edge")
        ]

    def __str__(self):
        return f"{self.source} → {self.target}"
