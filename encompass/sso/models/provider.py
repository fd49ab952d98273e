"""An organization's OpenID Connect identity provider and how its groups map onto roles."""

from django.conf import settings
from django.db import models

from encompass.tenancy.models.base import TenantModel
from encompass.tenancy.roles import ADMIN_ONLY, SECURITY, Role

DEFAULT_MFA_AMR = "mfa otp hwk swk sc fpt face pin"


class IdentityProvider(TenantModel):
    """One organization's OIDC provider: issuer, client, scopes, claims read, SSO policy."""

    organization = models.OneToOneField(
        "tenancy.Organization", on_delete=models.CASCADE, related_name="identity_provider"
    )
    enabled = models.BooleanField(default=True)
    issuer = models.URLField(
        max_length=500, help_text="The issuer URL; its /.well-known/openid-configuration is read."
    )
    client_id = models.CharField(max_length=255)
    client_secret_encrypted = models.BinaryField(editable=False)
    scopes = models.CharField(max_length=255, default="openid email profile")
    groups_claim = models.CharField(
        max_length=100, default="groups", help_text="The claim holding the user's groups (a list)."
    )
    username_claim = models.CharField(max_length=100, default="preferred_username")
    require_sso = models.BooleanField(
        default=False,
        help_text="Refuse password sign-in to every member except the break-glass Admins.",
    )
    break_glass = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="+",
        help_text="Local Admins (password + TOTP) who may still sign in when SSO is required.",
    )
    mfa_amr_values = models.CharField(
        max_length=255,
        default=DEFAULT_MFA_AMR,
        blank=True,
        help_text="An `amr` value among these satisfies the second factor (space separated).",
    )
    mfa_acr_values = models.CharField(
        max_length=255,
        blank=True,
        help_text="An `acr` value among these satisfies the second factor (space separated).",
    )
    # From the issuer's discovery document, read when the provider is saved.
    authorization_endpoint = models.URLField(max_length=500, editable=False)
    token_endpoint = models.URLField(max_length=500, editable=False)
    userinfo_endpoint = models.URLField(max_length=500, blank=True, editable=False)
    jwks_uri = models.URLField(max_length=500, editable=False)
    signing_algorithm = models.CharField(max_length=10, default="RS256", editable=False)
    discovered_at = models.DateTimeField(null=True, editable=False)

    role_permissions = {
        "view": SECURITY | {Role.AUDITOR},
        "add": ADMIN_ONLY,
        "change": ADMIN_ONLY,
        "delete": ADMIN_ONLY,
    }
    audit_exclude = ("client_secret_encrypted",)

    class Meta:
        ordering = ["organization__name"]

    def __str__(self):
        return f"{self.organization}: {self.issuer}"

    def amr_set(self):
        return set(self.mfa_amr_values.split())

    def acr_set(self):
        return set(self.mfa_acr_values.split())


class GroupRoleMapping(models.Model):
    """A group (a value of the provider's groups claim) gives this role, on these sites."""

    provider = models.ForeignKey(
        IdentityProvider, on_delete=models.CASCADE, related_name="mappings"
    )
    group = models.CharField(max_length=255)
    role = models.CharField(max_length=32, choices=Role.choices)
    sites = models.ManyToManyField(
        "tenancy.Site", blank=True, related_name="+", help_text="Empty: the whole organization."
    )

    class Meta:
        ordering = ["provider", "group", "role"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "group", "role"], name="sso_group_role_once"
            )
        ]

    def __str__(self):
        return f"{self.group} → {self.get_role_display()}"
