"""Membership invitations: how an organization's Admin brings in a user, with that user's consent.

An Admin invites a *username* to a role; nothing about that username is looked up or revealed
(the answer is the same whether such a user exists, is active, or is a member elsewhere). The user
of that name sees the invitation when signed in (``/invitations/``) and accepts or
declines it; only acceptance makes the membership, through the same code as every membership.
Invitations expire (``ENCOMPASS["INVITATION_DAYS"]``) and the organization's Admins may revoke
a pending one. Every step is audited on the organization's chain.
"""

import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from encompass.audit.services import record_audit
from encompass.exceptions import NotPermitted, ValidationError

from .access import ensure_permitted
from .models import InvitationStatus, Membership, MembershipInvitation
from .roles import Role
from .services import _check_sites, _create_membership

User = get_user_model()


def _state(invitation):
    return {
        "username": invitation.username,
        "role": invitation.role,
        "sites": sorted(s.slug for s in invitation.sites.all()),
        "status": invitation.status,
        "expires_at": invitation.expires_at.isoformat(),
    }


@transaction.atomic
def invite_member(*, organization, username, role, sites=(), actor):
    """Offer ``role`` in ``organization`` to ``username``; returns the pending invitation."""
    ensure_permitted(actor, "manage_members", organization)
    username = (username or "").strip()
    if not username or len(username) > 150:
        raise ValidationError({"username": "Give the username (at most 150 characters)."})
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}; choose one of {Role.values}."})
    sites = list(sites)
    _check_sites(organization, sites)
    # Only this organization's own rows are consulted: its members and its invitations.
    if Membership.objects.filter(organization=organization, user__username=username).exists():
        raise ValidationError({"username": f"{username} is already a member of {organization}."})
    pending = MembershipInvitation.objects.select_for_update().filter(
        organization=organization, username=username, status=InvitationStatus.PENDING
    )
    now = timezone.now()
    for stale in pending.filter(expires_at__lte=now):
        stale.status = InvitationStatus.REVOKED
        stale.responded_at = now
        stale.save(update_fields=["status", "responded_at", "updated_at"])
    if pending.filter(expires_at__gt=now).exists():
        raise ValidationError(
            {"username": f"{username} already has a pending invitation to {organization}."}
        )
    try:
        with transaction.atomic():  # a savepoint: the refusal below leaves the caller usable
            invitation = MembershipInvitation.objects.create(
                organization=organization,
                username=username,
                role=role,
                invited_by=actor if isinstance(actor, User) else None,
                expires_at=now + datetime.timedelta(days=settings.ENCOMPASS["INVITATION_DAYS"]),
            )
    except IntegrityError:
        # The lock above finds no row to lock when nobody is invited yet: of two admins inviting
        # the same username at once, the second meets one_pending_invitation_per_username here.
        raise ValidationError(
            {"username": f"{username} already has a pending invitation to {organization}."}
        ) from None
    invitation.sites.set(sites)
    record_audit(
        "tenancy.invitation.create",
        actor=actor,
        obj=invitation,
        changes={"after": _state(invitation)},
    )
    return invitation


def pending_invitations_for(user):
    """The unexpired invitations addressed to ``user``'s username."""
    return (
        MembershipInvitation.objects.filter(
            username=user.get_username(),
            status=InvitationStatus.PENDING,
            expires_at__gt=timezone.now(),
        )
        .select_related("organization", "invited_by")
        .prefetch_related("sites")
    )


def _own_pending(invitation, user):
    """Lock ``invitation`` if it is pending, unexpired and addressed to ``user``; else refuse
    with the same answer as for an invitation that does not exist."""
    found = (
        MembershipInvitation.objects.select_for_update()
        .filter(
            pk=invitation.pk,
            username=user.get_username(),
            status=InvitationStatus.PENDING,
            expires_at__gt=timezone.now(),
        )
        .select_related("organization")
        .first()
    )
    if found is None or not user.is_active or hasattr(user, "api_key"):
        raise NotPermitted("No such invitation.")
    return found


@transaction.atomic
def accept_invitation(invitation, *, actor):
    """The invited user accepts: the membership is made, with the invitation's role and sites."""
    invitation = _own_pending(invitation, actor)
    if Membership.objects.filter(organization=invitation.organization, user=actor).exists():
        raise ValidationError({"invitation": "You are already a member of this organization."})
    membership = _create_membership(
        organization=invitation.organization,
        user=actor,
        role=invitation.role,
        sites=list(invitation.sites.all()),
        actor=actor,
        invitation=invitation,
    )
    invitation.status = InvitationStatus.ACCEPTED
    invitation.responded_at = timezone.now()
    invitation.membership = membership
    invitation.save(update_fields=["status", "responded_at", "membership", "updated_at"])
    record_audit(
        "tenancy.invitation.accept",
        actor=actor,
        obj=invitation,
        changes={"after": _state(invitation)},
    )
    return membership


@transaction.atomic
def decline_invitation(invitation, *, actor):
    invitation = _own_pending(invitation, actor)
    invitation.status = InvitationStatus.DECLINED
    invitation.responded_at = timezone.now()
    invitation.save(update_fields=["status", "responded_at", "updated_at"])
    record_audit(
        "tenancy.invitation.decline",
        actor=actor,
        obj=invitation,
        changes={"after": _state(invitation)},
    )
    return invitation


@transaction.atomic
def revoke_invitation(invitation, *, actor):
    """An Admin of the organization withdraws a pending invitation."""
    ensure_permitted(actor, "manage_members", invitation.organization)
    invitation = MembershipInvitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.status != InvitationStatus.PENDING:
        raise ValidationError({"status": f"The invitation is already {invitation.status}."})
    invitation.status = InvitationStatus.REVOKED
    invitation.responded_at = timezone.now()
    invitation.save(update_fields=["status", "responded_at", "updated_at"])
    record_audit(
        "tenancy.invitation.revoke",
        actor=actor,
        obj=invitation,
        changes={"after": _state(invitation)},
    )
    return invitation
