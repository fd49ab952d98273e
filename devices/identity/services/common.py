"""Helpers the identity services share."""

from django.conf import settings
from django.db import transaction

from encompass.audit.services import (
    record_audit,
    snapshot,
    user_or_none,  # noqa: F401  (re-exported)
)

from ..keystore import get_key_store
from ..models import IdentityPolicy


def policy_for(organization):
    """The organization's policy; an unsaved default one when it has never been set."""
    policy = IdentityPolicy.objects.filter(organization=organization).first()
    return policy or IdentityPolicy(organization=organization)


@transaction.atomic
def ensure_policy(organization, *, actor):
    """The saved policy of ``organization`` (created with defaults, and audited, if missing)."""
    policy, created = IdentityPolicy.objects.get_or_create(organization=organization)
    if created:
        record_audit(
            "identity.identitypolicy.create",
            actor=actor,
            obj=policy,
            changes={"after": snapshot(policy)},
        )
    return policy


def crl_url(organization, fmt="der"):
    """The organization-wide CRL URL (certificates issued before per-CA URLs name it)."""
    return f"{_base()}/pki/{organization.slug}/crl.{fmt}"


def _base():
    return settings.ENCOMPASS["PUBLIC_BASE_URL"].rstrip("/")


def authority_crl_url(authority, fmt="der"):
    """The CRL of one CA: the URL its certificates name, kept as long as the CA is."""
    return f"{_base()}/pki/{authority.organization.slug}/ca/{authority.pk}/crl.{fmt}"


def ca_issuers_url(authority):
    """The CA certificate (DER), for the AIA caIssuers entry."""
    return f"{_base()}/pki/{authority.organization.slug}/ca/{authority.pk}/ca.der"


def ocsp_url(organization):
    """The organization's OCSP responder (one URL; it answers for every CA of the organization)."""
    return f"{_base()}/pki/{organization.slug}/ocsp"


def signing_key(authority):
    """The CA's private key, from the key store (for signing only; never logged or returned)."""
    return get_key_store().load_private_key(authority.key_reference, label=authority.key_label)
