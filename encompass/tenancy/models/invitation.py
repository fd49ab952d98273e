"""An organization's offer of a role to a user, which becomes a membership only when accepted."""

from django.conf import settings
from django.db import models

from ..roles import ADMIN_ONLY, Role
from .base import TenantModel


class InvitationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    REVOKED = "revoked", "Revoked"


class MembershipInvitation(TenantModel):
    """A role offered to a username; the user it names joins by accepting it, signed in.

    The username is kept as the Admin typed it and is not resolved to a user when the invitation
    is made, so making one answers the same for a username that exists and one that does not.
    """

    organization = models.ForeignKey(
        "tenancy.Organization", on_delete=models.CASCADE, related_name="invitations"
    )
    username = models.CharField(max_length=150)
    role = models.CharField(max_length=32, choices=Role.choices)
    sites = models.ManyToManyField(
        "tenancy.Site",
        blank=True,
        related_name="+",
        help_text="Leave empty for the whole organization; otherwise the role holds on these only.",
    )
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(
        max_length=16, choices=InvitationStatus.choices, default=InvitationStatus.PENDING
    )
    expires_at = models.DateTimeField()
    responded_at = models.DateTimeField(null=True, blank=True)
    membership = models.OneToOneField(
        "tenancy.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    role_permissions = {
        "view": ADMIN_ONLY,
        "add": ADMIN_ONLY,
        "revoke": ADMIN_ONLY,
    }

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "username"],
                condition=models.Q(status="pending"),
                name="one_pending_invitation_per_username",
            ),
        ]

    def __str__(self):
        return f"{self.username} — {self.get_role_display()} in {self.organization} ({self.status})"
