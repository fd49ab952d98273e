"""Helpers the identity services share."""

from django.conf import settings
from django.db import transaction

from encompass.audit.services import user_or_none  # noqa: F401  (re-exported)

from ..models import IdentityPolicy


def policy_for(organization):
    """The organization's policy; an unsaved default one when it has never been set."""
    policy = IdentityPolicy.objects.filter(organization=organization).first()
    return policy or IdentityPolicy(organization=organization)


@transaction.atomic
def ensure_policy(organization, *, actor):
    """The saved policy of ``organization`` (created with defaults, and audited, if missing)."""
    from encompass.audit.services import record_audit, snapshot

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
    base = settings.ENCOMPASS["PUBLIC_BASE_URL"].rstrip("/")
    return f"{base}/pki/{organization.slug}/crl.{fmt}"
