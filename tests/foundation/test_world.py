"""The bulk-built test world grants exactly the reach the tenancy services would."""

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction

from devices.models import Device
from encompass.tenancy.access import all_roles_of, roles_in
from encompass.tenancy.models import Membership, Organization, Site
from encompass.testing.factories import make_device
from encompass.testing.world import build_world, build_world_through_services


def _reach(world):
    """Everything observable about a world's access, keyed by usernames and slugs."""
    reach = {}
    for user in get_user_model().objects.order_by("username"):
        reach[user.username] = {
            "roles": sorted(all_roles_of(user)),
            "staff": user.is_staff,
            "orgs": sorted(Organization.objects.restrict(user).values_list("slug", flat=True)),
            "sites_view": sorted(Site.objects.restrict(user).values_list("slug", flat=True)),
            "sites_change": sorted(
                Site.objects.restrict(user, "change").values_list("slug", flat=True)
            ),
            "devices_change": sorted(
                Device.objects.restrict(user, "change").values_list("name", flat=True)
            ),
            "in_a": sorted(roles_in(user, world.a.org, world.a.sites[0])),
        }
    reach["memberships"] = sorted(
        (m.user.username, m.organization.slug, m.role, tuple(s.slug for s in m.sites.all()))
        for m in Membership.objects.all()
    )
    return reach


def _with_devices(world):
    for tenant in (world.a, world.b):
        for site in tenant.sites:
            make_device(tenant.org, site=site, name=f"{site.slug}-dev")
    return world


@pytest.mark.django_db
def test_bulk_world_matches_the_services():
    with transaction.atomic():
        fast = _reach(_with_devices(build_world()))
        transaction.set_rollback(True)
    slow = _reach(_with_devices(build_world_through_services()))
    assert fast == slow
    assert fast["a-site-technician"]["sites_change"] == []
    assert fast["a-site-technician"]["devices_change"] == ["a-site-1-dev"]
    assert fast["outsider"]["orgs"] == []
