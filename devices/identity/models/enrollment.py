"""One-time enrollment tokens: how a device proves, once, that it may ask for a certificate."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from encompass.tenancy.models import TenantModel
from encompass.tenancy.roles import ALL_ROLES, Role

ENROLLMENT_TOKEN_PREFIX = "enr_"
TOKEN_ISSUERS = frozenset({Role.ADMIN, Role.SECURITY_OFFICER, Role.OPERATOR})


class EnrollmentToken(TenantModel):
    """A secret bound to one device, usable once before it expires; stored as a keyed hash."""

    device = models.ForeignKey(
        "devices.Device", on_delete=models.CASCADE, related_name="enrollment_tokens"
    )
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    token_hash = models.CharField(max_length=64, editable=False)
    expires_at = models.DateTimeField(editable=False)
    used_at = models.DateTimeField(null=True, blank=True, editable=False)
    certificate = models.OneToOneField(
        "identity.DeviceCertificate",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="enrollment_token",
        editable=False,
    )
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    note = models.CharField(max_length=200, blank=True)

    site_lookup = "device__site"
    role_permissions = {
        "view": ALL_ROLES,
        "add": TOKEN_ISSUERS,
        "change": frozenset(),
        "delete": frozenset(),
        "revoke": TOKEN_ISSUERS,
    }
    audit_exclude = ("token_hash",)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"{ENROLLMENT_TOKEN_PREFIX}{self.prefix}… for {self.device}"

    @property
    def status(self):
        if self.used_at:
            return "used"
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "usable"
