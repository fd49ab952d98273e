"""API keys for integrations: shown once, stored hashed, scoped, expiring and revocable."""

import hashlib
import hmac

from django.conf import settings
from django.db import models
from django.utils import timezone

from ..roles import ADMIN_ONLY, SECURITY, Role
from .base import TenantModel

KEY_PREFIX = "enc_"


def hash_secret(secret):
    """Keyed hash of an API key secret (HMAC-SHA256 with the server secret key)."""
    return hmac.new(settings.SECRET_KEY.encode(), secret.encode(), hashlib.sha256).hexdigest()


class ApiKey(TenantModel):
    """A credential an integration presents as ``Authorization: Bearer <key>``.

    Each key acts through its own service user, which holds the key's role on its organization;
    revoking or expiring the key removes that grant.
    """

    name = models.CharField(max_length=200)
    role = models.CharField(max_length=32, choices=Role.choices)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_key", editable=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_reason = models.CharField(max_length=200, blank=True, editable=False)
    suspended = models.BooleanField(
        default=False, help_text="Suspended keys are refused until resumed (incident containment)."
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True, editable=False)

    role_permissions = {
        "view": SECURITY | {Role.AUDITOR},
        "add": ADMIN_ONLY,
        "change": ADMIN_ONLY,
        "delete": ADMIN_ONLY,
        "revoke": SECURITY,
        "suspend": SECURITY,
    }
    audit_exclude = ("secret_hash",)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self):
        return f"{self.name} ({KEY_PREFIX}{self.prefix}…)"

    @property
    def is_active(self):
        return self.revoked_at is None and not self.suspended and self.expires_at > timezone.now()

    @property
    def status(self):
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        if self.suspended:
            return "suspended"
        return "active"
