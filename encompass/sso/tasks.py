"""The worker's half of the bound on SSO access (docs/sso.md)."""

import datetime
import logging

from django.utils import timezone

logger = logging.getLogger(__name__)


def revalidate_identities_job(limit=500):
    """Ask each provider again about the SSO accounts it last vouched for longer ago than
    ``ENCOMPASS_SSO_REVALIDATE_MINUTES``: their memberships follow the provider's groups, and
    one it refuses (token revoked, user disabled) loses its memberships and its API keys.

    Accounts whose provider cannot be reached are left as they are (and counted) -- an outage
    of the provider is not proof that anybody left. Returns the counts.
    """
    from .models import SsoIdentity
    from .services import IdpUnavailable, revalidate, revalidate_seconds

    due = timezone.now() - datetime.timedelta(seconds=revalidate_seconds())
    counts = {"kept": 0, "removed": 0, "unavailable": 0}
    identities = (
        SsoIdentity.objects.filter(
            validated_at__lt=due, lapsed_at__isnull=True, provider__enabled=True
        )
        .select_related("provider__organization", "user")
        .order_by("validated_at")[:limit]
    )
    for identity in identities:
        try:
            counts["kept" if revalidate(identity) else "removed"] += 1
        except IdpUnavailable as exc:
            counts["unavailable"] += 1
            logger.warning("SSO revalidation of %s: provider unavailable: %s", identity, exc)
    return counts
