"""The fleet list: a sortable, filterable table with keyset pages, bulk state changes and moves
through the services, and the bulk form only for roles that may use it."""

import pytest
from django.urls import reverse

from devices.choices import LifecycleState
from devices.models import Device
from encompass.audit.models import AuditEntry
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device
from encompass.testing.web import web

pytestmark = pytest.mark.django_db


def _names(response):
    return [d.name for d in response.context["rows"]]


def test_sort_filter_and_pages(world):
    for i in range(60):
        make_device(world.a.org, site=world.a.sites[i % 2], name=f"Meter {i:02d}")
    client = web(world.a.user(Role.AUDITOR))
    url = reverse("devices_ui:list")
    first = client.get(url, {"sort": "-name"})
    assert _names(first)[:2] == ["Meter 59", "Meter 58"] and len(_names(first)) == 50
    second = client.get(url, {"sort": "-name", "after": first.context["next_cursor"]})
    assert _names(second) == [f"Meter {i:02d}" for i in range(9, -1, -1)]
    assert second.context["next_cursor"] is None
    only_site = client.get(url, {"site": world.a.sites[1].pk})
    assert len(_names(only_site)) == 30
    bad = client.get(url, {"state": "flying"})
    assert "state" in bad.context["filter"].form.errors and _names(bad) == []
    foreign = client.get(url, {"site": world.b.sites[0].pk})
    assert "site" in foreign.context["filter"].form.errors


def test_bulk_transition_and_move(world):
    mine = [make_device(world.a.org, site=world.a.sites[0]) for _ in range(3)]
    theirs = make_device(world.b.org, site=world.b.sites[0])
    client = web(world.a.user(Role.OPERATOR))
    bulk = reverse("devices_ui:bulk")
    ids = [d.pk for d in mine] + [theirs.pk]
    # No reason: nothing changes.
    client.post(bulk, {"verb": "transition", "to": "provisioned", "ids": ids})
    assert not Device.objects.filter(state=LifecycleState.PROVISIONED).exists()
    response = client.post(
        bulk,
        {"verb": "transition", "to": "provisioned", "reason": "Depot", "ids": ids},
        follow=True,
    )
    assert b"3 devices changed state" in response.content
    assert b"1 selected device(s) not found" in response.content
    assert Device.objects.filter(state=LifecycleState.PROVISIONED).count() == 3
    assert Device.objects.get(pk=theirs.pk).state == LifecycleState.PROCURED
    response = client.post(
        bulk, {"verb": "move", "site": world.a.sites[1].pk, "ids": [mine[0].pk]}, follow=True
    )
    assert b"1 device moved" in response.content
    assert Device.objects.get(pk=mine[0].pk).site_id == world.a.sites[1].pk
    # Another organization's site is refused.
    client.post(bulk, {"verb": "move", "site": world.b.sites[0].pk, "ids": [mine[1].pk]})
    assert Device.objects.get(pk=mine[1].pk).site_id == world.a.sites[0].pk
    assert AuditEntry.objects.filter(action__startswith="devices.device").exists()


def test_refusals_are_reported_per_device(world):
    device = make_device(world.a.org, site=world.a.sites[0])
    client = web(world.a.user(Role.OPERATOR))
    response = client.post(
        reverse("devices_ui:bulk"),
        {"verb": "transition", "to": "disposed", "reason": "x", "ids": [device.pk]},
        follow=True,
    )
    assert b"cannot become disposed" in response.content
    assert Device.objects.get(pk=device.pk).state == LifecycleState.PROCURED


@pytest.mark.parametrize("role", Role.values)
def test_bulk_form_only_for_roles_that_may(world, role):
    make_device(world.a.org, site=world.a.sites[0])
    html = web(world.a.user(role)).get(reverse("devices_ui:list")).content.decode()
    may_transition = role != Role.AUDITOR
    may_move = role in (Role.ADMIN, Role.OPERATOR)
    assert ('value="transition">Change state' in html) == may_transition
    assert ('value="move">Move' in html) == may_move
    assert ('id="bulk-form"' in html) == (may_transition or may_move)
    assert ("Import CSV" in html) == (role in (Role.ADMIN, Role.OPERATOR))
