"""hawkBit DDI: the organization's gateway tokens (``Authorization: GatewayToken ...``)."""

from django.conf import settings
from django.db import models

from encompass.tenancy.models import TenantModel
from encompass.tenancy.roles import ADMIN_ONLY, ALL_ROLES

from ..choices import SECURITY_ROLES

GATEWAY_TOKEN_PREFIX = "gwt_"


class GatewayToken(TenantModel):
    """A secret a gateway presents to speak hawkBit DDI for any device of its organization.

    Stored as a keyed hash (the secret is shown once, at creation); revocable; the last use is
    recorded. Per-device target tokens (the device token) or client certificates are preferred;
    a gateway token is for gateways relaying DDI for devices behind them.
    """

    name = models.CharField(max_length=200)
    prefix = models.CharField(max_length=12, unique=True, editable=False)
    token_hash = models.CharField(max_length=64, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_reason = models.CharField(max_length=300, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    role_permissions = {
        "view": ALL_ROLES,
        "add": SECURITY_ROLES,
        "change": (),  # a token is issued and revoked, never edited
        "revoke": SECURITY_ROLES,
        "delete": ADMIN_ONLY,
    }
    audit_exclude = ("token_hash",)

    class Meta:
        ordering = ["organization", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="gateway_token_name_unique_per_org"
            )
        ]

    def __str__(self):
        return f"{self.name} ({GATEWAY_TOKEN_PREFIX}{self.prefix}_…)"

    @property
    def is_active(self):
        return self.revoked_at is None


__all__ = ["GATEWAY_TOKEN_PREFIX", "GatewayToken"]
