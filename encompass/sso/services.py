"""Single sign-on writes: signing in through an organization's provider and keeping memberships
equal to what the provider says (docs/sso.md). Configuring the provider: providers.py.

The mapping only ever writes memberships of the provider's own organization: org A's provider
can never grant, change or remove anything in org B, whatever its claims say.
"""

import re
from dataclasses import dataclass
from urllib.parse import quote_plus

import httpx
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from encompass.audit.services import record_audit
from encompass.events.services import record_event
from encompass.tenancy import services as tenancy_services
from encompass.tenancy.models import ApiKey, Membership
from encompass.tenancy.roles import Role

from . import crypto
from .models import IdentityProvider, SsoIdentity
from .providers import (
    HTTP_TIMEOUT,
    client_secret_of,
)

User = get_user_model()

# When several mapped groups match, the first role in this order wins.
ROLE_RANK = [Role.ADMIN, Role.SECURITY_OFFICER, Role.OPERATOR, Role.TECHNICIAN, Role.AUDITOR]


class IdpUnavailable(Exception):
    """The identity provider could not be asked (network error, 5xx): nothing was changed."""


def _actor(provider):
    return f"sso:{provider.organization.slug}"


def revalidate_seconds():
    return settings.ENCOMPASS["SSO_REVALIDATE_MINUTES"] * 60


# --- the mapping --------------------------------------------------------------------------------


def groups_from_claims(provider, claims):
    value = claims.get(provider.groups_claim)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [str(v) for v in value if isinstance(v, str | int)]
    return []


def desired_membership(provider, groups):
    """``(role, sites)`` the groups give in the provider's organization, or ``None``.

    The highest role of the matching mappings wins (``ROLE_RANK``); its sites are the union of
    those mappings' sites, and one matching mapping without sites makes it organization-wide.
    """
    groups = set(groups)
    matching = [m for m in provider.mappings.prefetch_related("sites") if m.group in groups]
    for role in ROLE_RANK:
        of_role = [m for m in matching if m.role == role]
        if of_role:
            if any(not m.sites.all() for m in of_role):
                return role, []
            sites = {s.pk: s for m in of_role for s in m.sites.all()}
            return role, sorted(sites.values(), key=lambda s: s.pk)
    return None


def _revoke_keys_of(user, organization, provider, reason):
    """API keys ``user`` created in ``organization`` stop working with their role."""
    keys = ApiKey.objects.select_for_update().filter(
        organization=organization, created_by=user, revoked_at__isnull=True
    )
    for key in keys:
        key.revoked_at = timezone.now()
        key.revoked_reason = reason[:200]
        key.save(update_fields=["revoked_at", "revoked_reason", "updated_at"])
        tenancy_services._drop_grant(key)
        record_audit(
            "tenancy.apikey.revoke", actor=_actor(provider), obj=key, changes={"reason": reason}
        )
        record_event(
            "apikey.revoked",
            organization=organization,
            payload={"id": key.pk, "prefix": key.prefix},
        )


@transaction.atomic
def apply_groups(identity, groups, *, via):
    """Make ``identity``'s membership in its provider's organization what ``groups`` give.

    Returns the membership (``None`` when the groups give no role: the membership, and the API
    keys the user created there, are removed). ``via`` says what brought the claims (``sign_in``,
    ``refresh``, ``lapsed``) for the audit trail.
    """
    provider = identity.provider
    organization = provider.organization
    user = identity.user
    wanted = desired_membership(provider, groups)
    membership = (
        Membership.objects.select_for_update().filter(organization=organization, user=user).first()
    )
    actor = _actor(provider)
    if membership is None:
        if wanted is None:
            return None
        role, sites = wanted
        return tenancy_services._create_membership(
            organization=organization, user=user, role=role, sites=sites, actor=actor
        )
    before = tenancy_services._membership_state(membership)
    if wanted is None:
        tenancy_services._revoke_all(user, organization)
        record_audit(
            "tenancy.membership.delete",
            actor=actor,
            obj=membership,
            organization=organization,
            changes={"before": before, "source": f"identity provider ({via})"},
        )
        membership.delete()
        record_event(
            "membership.changed", organization=organization, payload={"user": user.pk, "role": None}
        )
        _revoke_keys_of(
            user, organization, provider, "the identity provider no longer grants a role"
        )
        return None
    role, sites = wanted
    current_sites = sorted(s.pk for s in membership.sites.all())
    if membership.role == role and current_sites == [s.pk for s in sites]:
        return membership
    was_admin = membership.role == Role.ADMIN and not current_sites
    membership.role = role
    membership.save()
    membership.sites.set(sites)
    tenancy_services._revoke_all(user, organization)
    tenancy_services._grant(user, role, organization, sites)
    record_audit(
        "tenancy.membership.update",
        actor=actor,
        obj=membership,
        changes={
            "before": before,
            "after": tenancy_services._membership_state(membership),
            "source": f"identity provider ({via})",
        },
    )
    record_event(
        "membership.changed", organization=organization, payload={"user": user.pk, "role": role}
    )
    if was_admin and (role != Role.ADMIN or sites):
        _revoke_keys_of(
            user, organization, provider, "the identity provider no longer grants Admin"
        )
    return membership


# --- sign-in ------------------------------------------------------------------------------------


@dataclass
class SignInResult:
    user: object = None
    identity: object = None
    membership: object = None
    mfa: bool = False
    refused: str = ""


def mfa_satisfied(provider, claims):
    amr = claims.get("amr") or []
    if isinstance(amr, str):
        amr = [amr]
    if set(map(str, amr)) & provider.amr_set():
        return True
    return bool(claims.get("acr")) and str(claims.get("acr")) in provider.acr_set()


USERNAME_SAFE = re.compile(r"[^\w.@+-]")


def _new_username(provider, claims):
    base = str(claims.get(provider.username_claim) or claims.get("email") or claims["sub"])
    base = USERNAME_SAFE.sub("-", base)[:100] or "user"
    suffix = f"@{provider.organization.slug}"
    candidate = f"{base}{suffix}"
    n = 1
    while User.objects.filter(username=candidate).exists():
        n += 1
        candidate = f"{base}-{n}{suffix}"
    return candidate


def _store_refresh_token(identity, refresh_token):
    if refresh_token:
        identity.refresh_token_encrypted = crypto.encrypt(
            refresh_token,
            purpose="refresh_token",
            organization_id=identity.provider.organization_id,
        )


@transaction.atomic
def sign_in_with_claims(provider, claims, *, refresh_token=None):
    """The user for verified ``claims`` from ``provider``; created at the first sign-in.

    Users are found by (provider, ``sub``) only, never by e-mail: a provider cannot sign in as
    an account it did not create. The membership is re-evaluated from the groups every time.
    """
    subject = str(claims.get("sub") or "")
    if not subject:
        return SignInResult(refused="The identity provider sent no subject (sub).")
    identity = (
        SsoIdentity.objects.select_for_update()
        .select_related("user", "provider__organization")
        .filter(provider=provider, subject=subject)
        .first()
    )
    now = timezone.now()
    created = identity is None
    if created:
        user = User(
            username=_new_username(provider, claims),
            email=str(claims.get("email") or "")[:254],
            first_name=str(claims.get("given_name") or "")[:150],
            last_name=str(claims.get("family_name") or "")[:150],
        )
        user.set_unusable_password()
        user.save()
        identity = SsoIdentity.objects.create(
            provider=provider, subject=subject, user=user, validated_at=now
        )
    user = identity.user
    if not user.is_active:
        return SignInResult(user=user, identity=identity, refused="This account is deactivated.")
    groups = groups_from_claims(provider, claims)
    membership = apply_groups(identity, groups, via="sign_in")
    identity.groups = groups
    identity.validated_at = now
    identity.lapsed_at = None if membership else now
    _store_refresh_token(identity, refresh_token)
    identity.save()
    mfa = mfa_satisfied(provider, claims)
    record_audit(
        "sso.sign_in" if membership else "sso.sign_in_refused",
        actor=user,
        obj=identity.user,
        organization=provider.organization,
        object_repr=user.get_username(),
        changes={
            "subject": subject,
            "groups": groups,
            "role": membership.role if membership else None,
            "created": created,
            "mfa_from_provider": mfa,
        },
    )
    if membership is None:
        return SignInResult(
            user=user,
            identity=identity,
            refused=f"Your identity provider gives you no role in {provider.organization}.",
        )
    return SignInResult(user=user, identity=identity, membership=membership, mfa=mfa)


# --- keeping access bounded: refresh with the provider ------------------------------------------


def revalidate(identity):
    """Ask the provider again (refresh-token grant, then userinfo) and re-apply the mapping.

    Returns ``True`` while the user keeps a role, ``False`` when the provider refused (token
    revoked, user disabled) or its groups give no role any more -- the membership is then gone.
    Raises :class:`IdpUnavailable` when the provider cannot be reached; nothing changes then.
    """
    provider = identity.provider
    if identity.refresh_token_encrypted is None:
        return _lapse(identity, "no refresh token was issued")
    try:
        refresh_token = crypto.decrypt(
            identity.refresh_token_encrypted,
            purpose="refresh_token",
            organization_id=provider.organization_id,
        )
        response = httpx.post(
            provider.token_endpoint,
            data={
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "scope": provider.scopes,
            },
            # client_secret_basic (RFC 6749 2.3.1: both parts form-encoded first).
            auth=(quote_plus(provider.client_id), quote_plus(client_secret_of(provider))),
            timeout=HTTP_TIMEOUT,
        )
    except httpx.HTTPError as exc:
        raise IdpUnavailable(str(exc)) from exc
    except crypto.SecretUnavailable as exc:
        raise IdpUnavailable(str(exc)) from exc
    if response.status_code >= 500:
        raise IdpUnavailable(f"token endpoint answered {response.status_code}")
    if response.status_code != 200:
        return _lapse(identity, f"the provider refused the refresh ({response.status_code})")
    tokens = response.json()
    claims = {}
    if tokens.get("id_token"):
        from .backend import OrganizationOIDCBackend

        try:
            claims.update(
                OrganizationOIDCBackend.for_provider(provider).verify_id_token(tokens["id_token"])
            )
        except Exception as exc:  # a token that does not verify is a refusal, not an outage
            return _lapse(identity, f"the refreshed ID token did not verify: {exc}")
    if provider.userinfo_endpoint and tokens.get("access_token"):
        try:
            info = httpx.get(
                provider.userinfo_endpoint,
                headers={"Authorization": f"Bearer {tokens['access_token']}"},
                timeout=HTTP_TIMEOUT,
            )
        except httpx.HTTPError as exc:
            raise IdpUnavailable(str(exc)) from exc
        if info.status_code >= 500:
            raise IdpUnavailable(f"userinfo endpoint answered {info.status_code}")
        if info.status_code != 200:
            return _lapse(identity, f"the provider refused userinfo ({info.status_code})")
        claims.update(info.json())
    if str(claims.get("sub")) != identity.subject:
        return _lapse(identity, "the provider answered for another subject")
    with transaction.atomic():
        identity = (
            SsoIdentity.objects.select_for_update()
            .select_related("provider", "user")
            .get(pk=identity.pk)
        )
        groups = groups_from_claims(provider, claims)
        membership = apply_groups(identity, groups, via="refresh")
        identity.groups = groups
        identity.validated_at = timezone.now()
        # No role any more: sessions of this account end at their next request.
        identity.lapsed_at = None if membership else timezone.now()
        _store_refresh_token(identity, tokens.get("refresh_token"))
        identity.save()
    return membership is not None


@transaction.atomic
def _lapse(identity, reason):
    identity = (
        SsoIdentity.objects.select_for_update()
        .select_related("provider", "user")
        .get(pk=identity.pk)
    )
    apply_groups(identity, [], via="lapsed")
    identity.lapsed_at = timezone.now()
    identity.refresh_token_encrypted = None
    identity.save(update_fields=["lapsed_at", "refresh_token_encrypted"])
    record_audit(
        "sso.identity.lapsed",
        actor=_actor(identity.provider),
        obj=identity.user,
        organization=identity.provider.organization,
        object_repr=identity.user.get_username(),
        changes={"reason": reason},
    )
    return False


# --- password sign-in under "SSO required" --------------------------------------------------------


def password_sign_in_refusal(user):
    """Why ``user`` may not sign in with a password, or ``""``.

    A member of an organization that requires SSO is refused unless they are one of its
    break-glass Admins; an account made by a provider has no password at all.
    """
    providers = IdentityProvider.objects.filter(
        require_sso=True, enabled=True, organization__memberships__user=user
    ).select_related("organization")
    for provider in providers:
        if not provider.break_glass.filter(pk=user.pk).exists():
            return (
                f"{provider.organization} requires single sign-on: sign in with your "
                "organization's identity provider."
            )
    return ""
