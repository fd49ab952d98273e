"""One grant query behind every "what may this user do" answer, plain indexed tenant filters, and
a grant cache that never outlives a membership change."""

import pytest
from django.contrib.auth.models import Group
from django.db import transaction
from guardian.shortcuts import assign_perm, remove_perm

from devices.models import Device
from encompass.events.models import Event
from encompass.tenancy.access import (
    access_q,
    all_roles_of,
    can_create,
    ensure_can_create,
    may,
    reach_of,
    roles_in,
)
from encompass.tenancy.grants import grant_cache, grants_of
from encompass.tenancy.models import Membership
from encompass.tenancy.roles import Role, permission_codename
from encompass.tenancy.services import remove_membership
from encompass.testing.factories import make_device, make_user
from encompass.testing.web import web

pytestmark = pytest.mark.django_db


def _group_grant(user, role, target):
    group = Group.objects.create(name=f"g-{user.pk}-{role}-{target.pk}")
    group.user_set.add(user)
    assign_perm(f"tenancy.{permission_codename(role)}", group, target)
    return group


def test_every_answer_comes_from_one_grant_query(world, django_assert_num_queries):
    user = world.a.user(Role.OPERATOR)
    _group_grant(user, Role.AUDITOR, world.b.org)
    for ask in (
        lambda: all_roles_of(user),
        lambda: roles_in(user, world.a.org),
        lambda: access_q(user, Device, "view"),
        lambda: can_create(user, Device, world.a.org),
    ):
        with django_assert_num_queries(1):
            ask()
    assert all_roles_of(user) == {"operator", "auditor"}
    assert roles_in(user, world.b.org) == {"auditor"}
    assert reach_of(user, Device, "view") == ({world.a.org.pk, world.b.org.pk}, set())
    assert reach_of(user, Device, "add") == ({world.a.org.pk}, set())  # auditors add nothing


def test_restrict_filters_with_plain_ids_not_grant_subqueries(world):
    sql = str(Event.objects.restrict(world.a.user(Role.OPERATOR)).query)
    assert "objectpermission" not in sql.lower()
    assert f'."organization_id" IN ({world.a.org.pk})' in sql

    tech_sql = str(Device.objects.restrict(world.site_technician).query)
    assert "objectpermission" not in tech_sql.lower()
    assert f'"site_id" IN ({world.a.sites[0].pk})' in tech_sql
    assert "organization_id" not in tech_sql.split("WHERE", 1)[1]


def test_group_grants_count_everywhere(world):
    user = make_user()
    _group_grant(user, Role.ADMIN, world.a.org)
    device = make_device(world.a.org, site=world.a.sites[0])
    assert all_roles_of(user) == {"admin"}
    assert roles_in(user, world.a.org) == {"admin"}
    assert can_create(user, Device, world.a.org)
    ensure_can_create(user, Device, world.a.org)
    assert list(Device.objects.restrict(user, "change")) == [device]
    assert not can_create(user, Device, world.b.org)
    assert not Device.objects.restrict(user).filter(organization=world.b.org).exists()


def test_a_site_grant_counts_only_on_its_site(world):
    tech = world.site_technician
    here, there = world.a.sites
    assert roles_in(tech, world.a.org) == set()
    assert roles_in(tech, world.a.org, here) == {"technician"}
    assert roles_in(tech, world.a.org, there) == set()
    assert may(tech, Device, "view", world.a.org, here)
    assert not may(tech, Device, "view", world.a.org, there)
    assert not can_create(tech, Device, world.a.org, here)  # technicians add no devices
    mine = make_device(world.a.org, site=here)
    make_device(world.a.org, site=there)
    assert list(Device.objects.restrict(tech)) == [mine]
    # Organization-wide rows of the site's organization are readable, not writable.
    from devices.models import DeviceType

    assert reach_of(tech, DeviceType, "view") == ({world.a.org.pk}, set())
    assert reach_of(tech, DeviceType, "change") == (set(), set())


def test_nobody_gets_nothing_without_a_query(world, django_assert_num_queries):
    from django.contrib.auth.models import AnonymousUser

    with django_assert_num_queries(0):
        assert not Device.objects.restrict(AnonymousUser()).exists()
        assert all_roles_of(None) == set()
    inactive = world.a.user(Role.ADMIN)
    inactive.is_active = False
    with django_assert_num_queries(0):
        assert access_q(inactive, Device, "view") is None
    with django_assert_num_queries(1):
        assert not Device.objects.restrict(world.outsider).exists()  # the grant query only


def test_cache_reads_once_and_drops_on_any_grant_write(world, django_assert_num_queries):
    user = world.a.user(Role.OPERATOR)
    device = make_device(world.a.org)
    with grant_cache():
        with django_assert_num_queries(1):
            for _ in range(5):
                all_roles_of(user)
                access_q(user, Device, "view")
        remove_perm(f"tenancy.{permission_codename(Role.OPERATOR)}", user, world.a.org)
        assert all_roles_of(user) == set()
        assert not Device.objects.restrict(user).exists()
        group = _group_grant(user, Role.AUDITOR, world.a.org)
        assert all_roles_of(user) == {"auditor"}
        assert list(Device.objects.restrict(user)) == [device]
        group.user_set.remove(user)
        assert not Device.objects.restrict(user).exists()


def test_cache_keeps_no_grant_a_rollback_undid(world):
    user = make_user()
    with grant_cache():
        assert all_roles_of(user) == set()
        with pytest.raises(RuntimeError), transaction.atomic():
            assign_perm(f"tenancy.{permission_codename(Role.ADMIN)}", user, world.a.org)
            assert all_roles_of(user) == {"admin"}
            raise RuntimeError("roll back")
        assert all_roles_of(user) == set()


def test_without_a_cache_a_revocation_applies_to_the_same_user_object(world):
    user = world.a.user(Role.OPERATOR)
    make_device(world.a.org)
    assert Device.objects.restrict(user).exists()
    membership = Membership.objects.get(user=user, organization=world.a.org)
    remove_membership(membership, actor=world.a.user(Role.ADMIN))
    assert grants_of(user).rows == frozenset()
    assert not Device.objects.restrict(user).exists()


def test_each_request_reads_the_grants_once_and_afresh(world):
    user = world.a.user(Role.OPERATOR)
    device = make_device(world.a.org)
    client = web(user)
    assert client.get(f"/api/v1/devices/{device.pk}/").status_code == 200
    remove_perm(f"tenancy.{permission_codename(Role.OPERATOR)}", user, world.a.org)
    assert client.get(f"/api/v1/devices/{device.pk}/").status_code == 404
    assert client.get(f"/devices/{device.pk}/").status_code == 404


def test_a_page_reads_the_grants_once(world, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = web(world.a.user(Role.OPERATOR))
    client.get("/devices/")
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/devices/").status_code == 200
    grant_reads = [q for q in ctx.captured_queries if "objectpermission" in q["sql"]]
    assert len(grant_reads) == 1, [q["sql"][:120] for q in grant_reads]
