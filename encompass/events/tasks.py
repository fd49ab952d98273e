"""Background jobs of the event stream."""

from encompass.tenancy.models import Organization

from . import partitions
from .retention import drop_expired_days, prune_keys, purge_organization


def purge_expired_events():
    """Apply every organization's retention policy (safe to run twice): make the coming days'
    partitions, drop the days past every policy, delete the rest past each policy in batches,
    forget the idempotency keys no re-send can need."""
    partitions.ensure_days()
    organizations = list(Organization.objects.order_by("pk"))
    dropped = drop_expired_days(organizations)
    counts = {
        org.slug: purge_organization(org, dropped=dropped.get(org.pk)) for org in organizations
    }
    prune_keys()
    return counts
