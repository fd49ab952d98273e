"""A user created and kept by an organization's identity provider."""

from django.conf import settings
from django.db import models


class SsoIdentity(models.Model):
    """The (provider, subject) a user signs in as; the IdP last vouched for it at ``validated_at``.

    A user has at most one: an account made by one organization's provider is never linked to
    another provider, nor to an existing local account (an e-mail claim is not proof of identity).
    """

    provider = models.ForeignKey(
        "sso.IdentityProvider", on_delete=models.CASCADE, related_name="identities"
    )
    subject = models.CharField(max_length=255)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sso_identity"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    validated_at = models.DateTimeField(
        help_text="When the identity provider last vouched for this user (sign-in or refresh)."
    )
    refresh_token_encrypted = models.BinaryField(null=True, editable=False)
    groups = models.JSONField(default=list, help_text="The groups claim at the last validation.")
    lapsed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the provider refused to vouch any longer."
    )

    class Meta:
        ordering = ["provider", "subject"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "subject"], name="sso_subject_per_provider")
        ]

    def __str__(self):
        return f"{self.subject} at {self.provider.issuer}"

    @property
    def organization_id(self):
        return self.provider.organization_id
