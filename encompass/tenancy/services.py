"""Writes for organizations, memberships and API keys (the tenancy side of the platform)."""

import datetime
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from encompass.audit.services import record_audit, snapshot
from encompass.events.services import record_event
from encompass.exceptions import NotPermitted, ValidationError

from .access import ensure_permitted
from .models import KEY_PREFIX, ApiKey, Membership, Organization, Site, hash_secret
from .roles import Role, permission_codename

User = get_user_model()


# --- organizations -----------------------------------------------------------------------------


@transaction.atomic
def create_organization(*, name, slug, actor=None, description=""):
    """Create a tenant. A platform operation (management command / seed), not a tenant one."""
    org = Organization(name=name, slug=slug, description=description)
    org.full_clean()
    org.save()
    record_audit(
        "tenancy.organization.create",
        actor=actor,
        obj=org,
        organization=org,
        changes={"after": snapshot(org)},
    )
    return org


# --- memberships and the guardian grants behind them ---------------------------------------------


def _grant(user, role, organization, sites):
    perm = f"tenancy.{permission_codename(role)}"
    if sites:
        for site in sites:
            assign_perm(perm, user, site)
    else:
        assign_perm(perm, user, organization)


def _revoke_all(user, organization):
    from .models import OrganizationUserObjectPermission, SiteUserObjectPermission

    OrganizationUserObjectPermission.objects.filter(
        user=user, content_object=organization, permission__codename__startswith="role_"
    ).delete()
    SiteUserObjectPermission.objects.filter(
        user=user,
        content_object__organization=organization,
        permission__codename__startswith="role_",
    ).delete()


def _check_sites(organization, sites):
    for site in sites:
        if site.organization_id != organization.pk:
            raise ValidationError({"sites": f"Site {site} is not in {organization}."})


def _membership_state(m):
    return {
        "user": m.user.get_username(),
        "role": m.role,
        "sites": sorted(s.slug for s in m.sites.all()),
    }


@transaction.atomic
def add_membership(*, organization, user, role, sites=(), actor, system=False):
    """Give ``user`` ``role`` in ``organization`` (on ``sites`` only, when given) at once.

    Platform work only -- ``system=True`` or ``actor=None`` (seed, ``add_member``,
    ``create_organization``). An organization's Admin cannot make somebody a member without their
    consent: they call :func:`invite_member`, and the user joins by accepting
    (:func:`accept_invitation`).
    """
    if actor is not None and not system:
        ensure_permitted(actor, "manage_members", organization)
        raise NotPermitted(
            "Members join by accepting an invitation: invite the user instead "
            "(POST /api/v1/membership-invitations/)."
        )
    return _create_membership(
        organization=organization, user=user, role=role, sites=sites, actor=actor
    )


def _create_membership(*, organization, user, role, sites, actor, invitation=None):
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}; choose one of {Role.values}."})
    sites = list(sites)
    _check_sites(organization, sites)
    already = ValidationError({"user": f"{user} is already a member of {organization}."})
    if Membership.objects.filter(organization=organization, user=user).exists():
        raise already
    try:
        # A concurrent add of the same user waits on the unique index and loses here: the same
        # clear answer, not an IntegrityError (a 500).
        with transaction.atomic():
            membership = Membership.objects.create(
                organization=organization,
                user=user,
                role=role,
                created_by=(invitation.invited_by if invitation is not None else None)
                or (actor if isinstance(actor, User) else None),
            )
    except IntegrityError:
        raise already from None
    membership.sites.set(sites)
    _grant(user, role, organization, sites)
    if not user.is_staff and not hasattr(user, "api_key"):
        # Members work in the admin; what they see there is still what restrict() allows.
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    changes = {"after": _membership_state(membership)}
    if invitation is not None:
        changes["invitation"] = invitation.pk
    record_audit("tenancy.membership.create", actor=actor, obj=membership, changes=changes)
    record_event(
        "membership.changed", organization=organization, payload={"user": user.pk, "role": role}
    )
    return membership


@transaction.atomic
def change_membership(membership, *, role=None, sites=None, actor):
    """Change a membership's role or site narrowing; guardian grants follow."""
    ensure_permitted(actor, "manage_members", membership.organization)
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    before = _membership_state(membership)
    if role is not None:
        if role not in Role.values:
            raise ValidationError({"role": f"Unknown role {role!r}; choose one of {Role.values}."})
        membership.role = role
    if sites is not None:
        sites = list(sites)
        _check_sites(membership.organization, sites)
        membership.sites.set(sites)
    _guard_last_admin(membership, new_role=membership.role)
    membership.save()
    _revoke_all(membership.user, membership.organization)
    _grant(membership.user, membership.role, membership.organization, list(membership.sites.all()))
    after = _membership_state(membership)
    record_audit(
        "tenancy.membership.update",
        actor=actor,
        obj=membership,
        changes={"before": before, "after": after},
    )
    record_event(
        "membership.changed",
        organization=membership.organization,
        payload={"user": membership.user_id, "role": membership.role},
    )
    return membership


def _guard_last_admin(membership, *, new_role=None, removing=False):
    others = Membership.objects.filter(
        organization=membership.organization, role=Role.ADMIN, sites__isnull=True
    ).exclude(pk=membership.pk)
    becomes_non_admin = removing or new_role != Role.ADMIN or membership.sites.exists()
    was_admin = Membership.objects.filter(pk=membership.pk, role=Role.ADMIN).exists()
    if was_admin and becomes_non_admin and not others.exists():
        raise ValidationError(
            {"role": "This is the organization's last Admin; appoint another Admin first."}
        )


@transaction.atomic
def remove_membership(membership, *, actor):
    """End a membership and remove every grant it carried."""
    ensure_permitted(actor, "manage_members", membership.organization)
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    _guard_last_admin(membership, removing=True)
    before = _membership_state(membership)
    organization, user = membership.organization, membership.user
    _revoke_all(user, organization)
    record_audit(
        "tenancy.membership.delete",
        actor=actor,
        obj=membership,
        organization=organization,
        changes={"before": before},
    )
    membership.delete()
    record_event(
        "membership.changed", organization=organization, payload={"user": user.pk, "role": None}
    )


# --- API keys ------------------------------------------------------------------------------------


def _new_secret():
    return secrets.token_urlsafe(32)


@transaction.atomic
def create_api_key(*, organization, name, role, actor, expires_at=None, days=None):
    """Create an API key; returns ``(api_key, plaintext)``. The plaintext is never stored."""
    ensure_permitted(actor, "manage_members", organization)
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}; choose one of {Role.values}."})
    if not name or not name.strip():
        raise ValidationError({"name": "Give the key a name that says what uses it."})
    now = timezone.now()
    max_days = settings.ENCOMPASS["API_KEY_MAX_DAYS"]
    if expires_at is None:
        if days is not None and days > max_days:  # before timedelta, which overflows
            raise ValidationError({"expires_at": f"Keys may live at most {max_days} days."})
        expires_at = now + datetime.timedelta(days=days or 90)
    if expires_at <= now:
        raise ValidationError({"expires_at": "The expiry must be in the future."})
    if expires_at > now + datetime.timedelta(days=max_days):
        raise ValidationError({"expires_at": f"Keys may live at most {max_days} days."})
    prefix = secrets.token_hex(6)
    secret = _new_secret()
    service_user = User.objects.create(
        username=f"apikey-{prefix}",
        is_active=True,
        is_staff=False,
        first_name=name[:150],
    )
    service_user.set_unusable_password()
    service_user.save(update_fields=["password"])
    key = ApiKey.objects.create(
        organization=organization,
        name=name.strip(),
        role=role,
        prefix=prefix,
        secret_hash=hash_secret(secret),
        user=service_user,
        created_by=actor if isinstance(actor, User) else None,
        expires_at=expires_at,
    )
    assign_perm(f"tenancy.{permission_codename(role)}", service_user, organization)
    record_audit("tenancy.apikey.create", actor=actor, obj=key, changes={"after": snapshot(key)})
    return key, f"{KEY_PREFIX}{prefix}_{secret}"


def parse_key(raw):
    """Split ``enc_<prefix>_<secret>``; ``None`` when it is not shaped like one of ours."""
    if not raw or not raw.startswith(KEY_PREFIX):
        return None
    body = raw[len(KEY_PREFIX) :]
    prefix, sep, secret = body.partition("_")
    if not sep or len(prefix) != 12 or not secret:
        return None
    return prefix, secret


def _drop_grant(key):
    remove_perm(f"tenancy.{permission_codename(key.role)}", key.user, key.organization)


@transaction.atomic
def revoke_api_key(key, *, actor, reason=""):
    ensure_permitted(actor, "revoke", key)
    key = ApiKey.objects.select_for_update().get(pk=key.pk)
    if key.revoked_at is not None:
        raise ValidationError({"key": "This key is already revoked."})
    key.revoked_at = timezone.now()
    key.revoked_reason = reason[:200]
    key.save(update_fields=["revoked_at", "revoked_reason", "updated_at"])
    _drop_grant(key)
    record_audit("tenancy.apikey.revoke", actor=actor, obj=key, changes={"reason": reason})
    record_event(
        "apikey.revoked",
        organization=key.organization,
        payload={"id": key.pk, "prefix": key.prefix},
    )
    return key


@transaction.atomic
def set_api_key_suspended(key, suspended, *, actor, reason=""):
    """Suspend (containment) or resume a key; a revoked key stays revoked."""
    ensure_permitted(actor, "suspend", key)
    key = ApiKey.objects.select_for_update().get(pk=key.pk)
    if key.revoked_at is not None:
        raise ValidationError({"key": "A revoked key cannot be suspended or resumed."})
    if key.suspended == suspended:
        return key
    key.suspended = suspended
    key.save(update_fields=["suspended", "updated_at"])
    action = "suspend" if suspended else "resume"
    record_audit(f"tenancy.apikey.{action}", actor=actor, obj=key, changes={"reason": reason})
    record_event(
        f"apikey.{action}ed",
        organization=key.organization,
        payload={"id": key.pk, "prefix": key.prefix},
    )
    return key


def authenticate_api_key(raw, *, ip=None):
    """The active key for ``raw``, recording its use; ``None`` for anything else."""
    parsed = parse_key(raw)
    if parsed is None:
        return None
    prefix, secret = parsed
    key = ApiKey.objects.select_related("user", "organization").filter(prefix=prefix).first()
    if key is None or not secrets.compare_digest(key.secret_hash, hash_secret(secret)):
        return None
    if not key.is_active:
        return None
    now = timezone.now()
    # Record last use at most once a minute per key: cheap, and close enough for audits.
    if (
        key.last_used_at is None
        or (now - key.last_used_at).total_seconds() > 60
        or (key.last_used_ip != ip)
    ):
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now, last_used_ip=ip)
        key.last_used_at, key.last_used_ip = now, ip
    return key


def explain_api_key_failure(raw):
    """``(key, reason)`` for a presented key that did not authenticate, for the audit trail.

    ``key`` is the key its prefix names (``None`` when none does), so the failure can be shown
    to that key's organization; the caller never tells the client which reason it was.
    """
    parsed = parse_key(raw)
    if parsed is None:
        return None, "not an Encompass API key"
    prefix, secret = parsed
    key = ApiKey.objects.select_related("organization").filter(prefix=prefix).first()
    if key is None:
        return None, "unknown key prefix"
    if not secrets.compare_digest(key.secret_hash, hash_secret(secret)):
        return key, "wrong secret for this key prefix"
    return key, f"key is {key.status}"


def ensure_member_of(user, organization):
    if not Membership.objects.filter(user=user, organization=organization).exists():
        raise NotPermitted("Not a member of this organization.")


__all__ = [
    "Site",
    "add_membership",
    "authenticate_api_key",
    "change_membership",
    "create_api_key",
    "create_organization",
    "ensure_member_of",
    "explain_api_key_failure",
    "parse_key",
    "remove_membership",
    "revoke_api_key",
    "set_api_key_suspended",
    "set_object_roles",
]


# --- object-permission grants (guardian's admin screens) ------------------------------------------


def _grant_target(obj):
    """The organization whose Admins may change grants on ``obj`` (an Organization or a Site)."""
    if isinstance(obj, Organization):
        return obj
    if isinstance(obj, Site):
        return obj.organization
    raise ValidationError({"object": "Roles are granted on organizations and sites only."})


@transaction.atomic
def set_object_roles(obj, principal, codenames, *, actor):
    """Make ``principal`` (a user or a group) hold exactly the ``role_*`` ``codenames`` on ``obj``.

    What guardian's object-permission screens call: only the organization's Admins may, only role
    permissions are handled, and every grant and revoke is audited.
    """
    from django.contrib.auth.models import Group
    from guardian.shortcuts import get_group_perms, get_user_perms

    organization = _grant_target(obj)
    ensure_permitted(actor, "manage_members", organization)
    valid = {permission_codename(role) for role in Role.values}
    wanted = set(codenames)
    unknown = wanted - valid
    if unknown:
        names = ", ".join(sorted(unknown))
        raise ValidationError({"permissions": f"Not a role permission: {names}"})
    is_group = isinstance(principal, Group)
    held = set(get_group_perms(principal, obj) if is_group else get_user_perms(principal, obj))
    held &= valid
    added, removed = sorted(wanted - held), sorted(held - wanted)
    for codename in removed:
        remove_perm(f"tenancy.{codename}", principal, obj)
    for codename in added:
        assign_perm(f"tenancy.{codename}", principal, obj)
    if added or removed:
        name = principal.name if is_group else principal.get_username()
        record_audit(
            "tenancy.permission.change",
            actor=actor,
            obj=obj,
            organization=organization,
            changes={
                "group" if is_group else "user": name,
                "granted": added,
                "revoked": removed,
            },
        )
        record_event(
            "membership.changed",
            organization=organization,
            payload={"object": str(obj), "granted": added, "revoked": removed},
        )
    return added, removed
