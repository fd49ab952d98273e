"""Keys: vendors' release-signing keys, and the platform's per-organization manifest key."""

from django.conf import settings
from django.db import models

from encompass.tenancy.models import TenantModel
from encompass.tenancy.roles import ADMIN_ONLY, ALL_ROLES

from ..choices import SECURITY_ROLES, STAFF_WRITERS, KeyCustody, KeyStatus


class SigningKey(TenantModel):
    """An Ed25519 key whose signatures the organization accepts on firmware images.

    Vendor-held keys store only the public key; a platform-held key also stores its private key,
    kept in the platform key store (``devices.identity.keystore``), for organizations that
    sign here.
    """

    name = models.CharField(max_length=200)
    custody = models.CharField(
        max_length=16, choices=KeyCustody.choices, default=KeyCustody.VENDOR, editable=False
    )
    public_key = models.TextField(
        help_text="Ed25519 public key: PEM (SubjectPublicKeyInfo) or 32 raw bytes in base64."
    )
    fingerprint = models.CharField(
        max_length=64, editable=False, help_text="SHA-256 of the 32 raw public-key bytes (hex)."
    )
    private_key_ref = models.CharField(
        max_length=200,
        blank=True,
        editable=False,
        help_text="Key-store reference of the private key (platform-held keys only).",
    )
    status = models.CharField(
        max_length=16, choices=KeyStatus.choices, default=KeyStatus.ACTIVE, editable=False
    )
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_reason = models.CharField(max_length=300, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    description = models.TextField(blank=True)

    role_permissions = {
        "view": ALL_ROLES,
        "add": SECURITY_ROLES,
        "change": SECURITY_ROLES,
        "delete": ADMIN_ONLY,
        "revoke": SECURITY_ROLES,
        "sign": STAFF_WRITERS,
    }
    audit_exclude = ("private_key_ref",)

    class Meta:
        ordering = ["organization", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "fingerprint"], name="signing_key_unique_per_org"
            ),
            models.UniqueConstraint(
                fields=["organization", "name"], name="signing_key_name_unique_per_org"
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.fingerprint[:12]})"

    @property
    def is_active(self):
        return self.status == KeyStatus.ACTIVE


class ManifestSigningKey(TenantModel):
    """The platform's Ed25519 key that signs update manifests for one organization.

    Generated on first use; devices receive the public key at provisioning (and from
    ``/api/device/v1/update/key``) and refuse manifests it did not sign.
    """

    organization = models.OneToOneField(
        "tenancy.Organization", on_delete=models.PROTECT, related_name="manifest_key"
    )
    public_key = models.TextField(editable=False)
    fingerprint = models.CharField(max_length=64, editable=False)
    private_key_ref = models.CharField(max_length=200, editable=False)

    role_permissions = {"view": ALL_ROLES}
    audit_exclude = ("private_key_ref",)

    class Meta:
        verbose_name = "manifest signing key"

    def __str__(self):
        return f"Manifest key of {self.organization} ({self.fingerprint[:12]})"
