"""Single sign-on: an organization's Admin configures its identity provider (issuer checked by
discovery, client secret encrypted, group mappings, break-glass Admins), docs/sso.md.

The mapping only ever writes memberships of the provider's own organization: org A's provider
can never grant, change or remove anything in org B, whatever its claims say.
"""

import ipaddress
import re
from urllib.parse import urlsplit

import httpx
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from encompass.audit.services import record_audit
from encompass.exceptions import ValidationError
from encompass.tenancy.access import ensure_permitted
from encompass.tenancy.models import Membership, Site
from encompass.tenancy.roles import Role

from . import crypto
from .models import GroupRoleMapping, IdentityProvider

User = get_user_model()
HTTP_TIMEOUT = 10


# --- configuration ------------------------------------------------------------------------------


def _is_loopback(host):
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_issuer_url(issuer):
    parts = urlsplit(issuer)
    if parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(parts.hostname or "")):
        return
    raise ValidationError(
        {"issuer": "The issuer must be an https:// URL (plain http only on the loopback address)."}
    )


def discover(issuer):
    """The provider's endpoints from ``<issuer>/.well-known/openid-configuration``.

    The document must name the same issuer (OpenID Connect Discovery 1.0, section 4.3).
    """
    check_issuer_url(issuer)
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        response = httpx.get(url, timeout=HTTP_TIMEOUT)
        response.raise_for_status()
        document = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ValidationError({"issuer": f"Could not read {url}: {exc}"}) from None
    if str(document.get("issuer", "")).rstrip("/") != issuer.rstrip("/"):
        raise ValidationError(
            {"issuer": f"{url} names the issuer {document.get('issuer')!r}, not {issuer!r}."}
        )
    missing = [
        key
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri")
        if not document.get(key)
    ]
    if missing:
        raise ValidationError({"issuer": f"{url} lacks {', '.join(missing)}."})
    algs = document.get("id_token_signing_alg_values_supported") or ["RS256"]
    preferred = next((a for a in ("RS256", "ES256", "PS256") if a in algs), None)
    if preferred is None:
        raise ValidationError(
            {"issuer": f"The provider signs ID tokens with {algs}; use RS256/ES256."}
        )
    return {
        "authorization_endpoint": document["authorization_endpoint"],
        "token_endpoint": document["token_endpoint"],
        "userinfo_endpoint": document.get("userinfo_endpoint", ""),
        "jwks_uri": document["jwks_uri"],
        "signing_algorithm": preferred,
    }


MAPPING_LINE = re.compile(
    r"^(?P<group>.+?)\s*=\s*(?P<role>[a-z_]+)(?:\s+(?P<sites>[a-z0-9,\- ]+))?$"
)


def parse_mappings(organization, text):
    """``[(group, role, [sites])]`` from lines ``<group> = <role> [site-slug,site-slug]``."""
    result, errors = [], []
    sites_by_slug = {s.slug: s for s in Site.objects.filter(organization=organization)}
    seen = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = MAPPING_LINE.match(line)
        if not match:
            errors.append(f"line {number}: write '<group> = <role> [site-slug,...]'")
            continue
        group, role = match["group"].strip(), match["role"]
        if role not in Role.values:
            errors.append(f"line {number}: unknown role {role!r} (one of {', '.join(Role.values)})")
            continue
        slugs = [s for s in re.split(r"[,\s]+", match["sites"] or "") if s]
        unknown = [s for s in slugs if s not in sites_by_slug]
        if unknown:
            errors.append(f"line {number}: no site {', '.join(unknown)} in {organization}")
            continue
        if (group, role) in seen:
            errors.append(f"line {number}: {group} = {role} is given twice")
            continue
        seen.add((group, role))
        result.append((group, role, [sites_by_slug[s] for s in slugs]))
    if errors:
        raise ValidationError({"mappings": errors})
    return result


def mappings_text(provider):
    lines = []
    for m in provider.mappings.prefetch_related("sites"):
        sites = ",".join(sorted(s.slug for s in m.sites.all()))
        lines.append(f"{m.group} = {m.role}" + (f" {sites}" if sites else ""))
    return "\n".join(lines)


def _check_break_glass(organization, usernames):
    from django_otp import user_has_device

    users = []
    for username in usernames:
        user = User.objects.filter(username=username).first()
        membership = (
            Membership.objects.filter(organization=organization, user=user, role=Role.ADMIN).first()
            if user is not None
            else None
        )
        if membership is None or membership.sites.exists():
            raise ValidationError(
                {"break_glass": f"{username} is not an organization-wide Admin of {organization}."}
            )
        if hasattr(user, "sso_identity") or not user.has_usable_password():
            raise ValidationError(
                {"break_glass": f"{username} has no local password; a break-glass Admin needs one."}
            )
        if not user_has_device(user, confirmed=True):
            raise ValidationError(
                {"break_glass": f"{username} has no authenticator (TOTP) set up yet."}
            )
        users.append(user)
    return users


@transaction.atomic
def configure_identity_provider(
    organization,
    *,
    actor,
    issuer,
    client_id,
    client_secret=None,
    scopes="openid email profile",
    groups_claim="groups",
    username_claim="preferred_username",
    require_sso=False,
    enabled=True,
    mfa_amr_values=None,
    mfa_acr_values="",
    mappings="",
    break_glass=(),
):
    """Create or change ``organization``'s identity provider (its Admins only).

    ``client_secret`` ``None`` keeps the stored one. The issuer's discovery document is read
    now, so a wrong issuer is refused here rather than at the first sign-in.
    """
    ensure_permitted(actor, "manage_members", organization)
    provider = (
        IdentityProvider.objects.select_for_update().filter(organization=organization).first()
    )
    before = _provider_state(provider) if provider else None
    issuer = (issuer or "").strip().rstrip("/")
    errors = {}
    if not issuer:
        errors["issuer"] = "Give the issuer URL."
    if not (client_id or "").strip():
        errors["client_id"] = "Give the client id registered at the provider."
    if provider is None and not client_secret:
        errors["client_secret"] = "Give the client secret."
    if "openid" not in (scopes or "").split():
        errors["scopes"] = "The scopes must include openid."
    if not (groups_claim or "").strip():
        errors["groups_claim"] = "Name the claim that holds the groups."
    if errors:
        raise ValidationError(errors)
    parsed = parse_mappings(organization, mappings or "")
    glass = _check_break_glass(organization, [u for u in break_glass if u])
    if require_sso and not glass:
        raise ValidationError(
            {"break_glass": "Requiring SSO needs at least one break-glass Admin (password + TOTP)."}
        )
    endpoints = discover(issuer)
    if provider is None:
        provider = IdentityProvider(organization=organization)
    provider.issuer = issuer
    provider.client_id = client_id.strip()
    if client_secret:
        provider.client_secret_encrypted = crypto.encrypt(
            client_secret, purpose="client_secret", organization_id=organization.pk
        )
    provider.scopes = " ".join(scopes.split())
    provider.groups_claim = groups_claim.strip()
    provider.username_claim = (username_claim or "preferred_username").strip()
    provider.require_sso = bool(require_sso)
    provider.enabled = bool(enabled)
    if mfa_amr_values is not None:
        provider.mfa_amr_values = " ".join(mfa_amr_values.split())
    provider.mfa_acr_values = " ".join((mfa_acr_values or "").split())
    for key, value in endpoints.items():
        setattr(provider, key, value)
    provider.discovered_at = timezone.now()
    provider.save()
    provider.break_glass.set(glass)
    provider.mappings.all().delete()
    for group, role, sites in parsed:
        mapping = GroupRoleMapping.objects.create(provider=provider, group=group, role=role)
        mapping.sites.set(sites)
    after = _provider_state(provider)
    if client_secret:
        after["client_secret"] = "changed"
    record_audit(
        "sso.provider.update" if before else "sso.provider.create",
        actor=actor,
        obj=provider,
        organization=organization,
        changes={"before": before, "after": after} if before else {"after": after},
    )
    return provider


def _provider_state(provider):
    return {
        "issuer": provider.issuer,
        "client_id": provider.client_id,
        "scopes": provider.scopes,
        "groups_claim": provider.groups_claim,
        "require_sso": provider.require_sso,
        "enabled": provider.enabled,
        "mfa_amr_values": provider.mfa_amr_values,
        "mfa_acr_values": provider.mfa_acr_values,
        "break_glass": sorted(u.get_username() for u in provider.break_glass.all()),
        "mappings": mappings_text(provider).splitlines(),
    }


def client_secret_of(provider):
    return crypto.decrypt(
        provider.client_secret_encrypted,
        purpose="client_secret",
        organization_id=provider.organization_id,
    )
