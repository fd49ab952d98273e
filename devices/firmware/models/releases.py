"""Firmware releases: a signed image for one or more device types."""

from django.conf import settings
from django.db import models
from packaging.version import InvalidVersion, Version

from encompass.tenancy.models import TenantModel
from encompass.tenancy.roles import ADMIN_ONLY, ALL_ROLES, Role

from ..choices import SECURITY_ROLES, STAFF_WRITERS, ReleaseStatus


def artifact_path(instance, filename):
    return f"firmware/{instance.organization_id}/{instance.sha256}.bin"


class FirmwareRelease(TenantModel):
    """One firmware image, its verified signature and its approval."""

    device_types = models.ManyToManyField("devices.DeviceType", related_name="firmware_releases")
    version = models.CharField(max_length=64, help_text="PEP 440 / semantic version, e.g. 2.4.1.")
    security_version = models.PositiveIntegerField(
        help_text="Anti-rollback counter: devices never go below the highest they have run."
    )
    artifact = models.FileField(upload_to=artifact_path, max_length=300, editable=False)
    size = models.PositiveBigIntegerField(editable=False)
    sha256 = models.CharField(max_length=64, editable=False)
    # SHA-1 and MD5 are what hawkBit DDI clients check downloads with (SWUpdate: SHA-1); they are
    # computed from the stored image on first use (``devices.firmware.ddi.services``), never
    # trusted for anything else: the release statement binds the SHA-256.
    sha1 = models.CharField(max_length=40, blank=True, editable=False)
    md5 = models.CharField(max_length=32, blank=True, editable=False)
    filename = models.CharField(
        max_length=200,
        blank=True,
        editable=False,
        help_text="The uploaded file's name (DDI clients choose a handler by it, e.g. .swu).",
    )
    signature = models.CharField(
        max_length=128, editable=False, help_text="Ed25519 signature of the release statement."
    )
    signing_key = models.ForeignKey(
        "firmware.SigningKey", on_delete=models.PROTECT, related_name="releases", editable=False
    )
    release_notes = models.TextField(blank=True)
    cves_fixed = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(
        default=dict, blank=True, help_text="Vendor metadata passed to devices in the manifest."
    )
    status = models.CharField(
        max_length=16,
        choices=ReleaseStatus.choices,
        default=ReleaseStatus.DRAFT,
        db_index=True,
        editable=False,
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    approved_at = models.DateTimeField(null=True, blank=True, editable=False)
    approval_note = models.TextField(blank=True, editable=False)
    status_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    status_reason = models.CharField(max_length=300, blank=True, editable=False)

    role_permissions = {
        "view": ALL_ROLES,
        "add": STAFF_WRITERS,
        "change": STAFF_WRITERS,
        "delete": ADMIN_ONLY,
        "approve": frozenset({Role.SECURITY_OFFICER}),
        "deprecate": SECURITY_ROLES | {Role.OPERATOR},
        "revoke": SECURITY_ROLES,
    }

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["organization", "status"])]

    def __str__(self):
        return f"{self.version} (sv {self.security_version})"

    @property
    def parsed_version(self):
        try:
            return Version(self.version)
        except InvalidVersion:
            return Version("0")
