"""``{% may %}`` / ``{% can_create %}`` answer as the services' role check does, per role."""

import pytest
from django.template import Context, Template
from django.test import RequestFactory

from devices.models import Device
from devices.monitoring.models import Alert
from devices.monitoring.services import raise_alert
from encompass.tenancy.access import allowed_roles
from encompass.tenancy.roles import ALL_ROLES, Role
from encompass.web.navigation import _items, items_for, register
from encompass.web.permits import permits

pytestmark = pytest.mark.django_db


def _render(source, user, **context):
    request = RequestFactory().get("/")
    request.user = user
    return Template("{% load access %}" + source).render(Context({"request": request, **context}))


@pytest.fixture
def alert(world):
    alert, _ = raise_alert(
        organization=world.a.org,
        kind="t",
        title="Fan",
        severity="high",
        dedupe_key="t1",
        site=world.a.sites[0],
    )
    return alert


@pytest.mark.parametrize("role", sorted(ALL_ROLES))
def test_may_on_an_object_follows_the_role_table(world, alert, role):
    user = world.a.user(role)
    out = _render(
        '{% may "acknowledge" alert as a %}{% may "resolve" alert as r %}{{ a }} {{ r }}',
        user,
        alert=alert,
    )
    expected = (
        f"{role in allowed_roles(Alert, 'acknowledge')} {role in allowed_roles(Alert, 'resolve')}"
    )
    assert out == expected


@pytest.mark.parametrize("role", sorted(ALL_ROLES))
def test_can_create_with_a_model_label_uses_the_current_organization(world, role):
    user = world.a.user(role)
    out = _render(
        '{% can_create "devices.Device" as c %}{{ c }}', user, current_organization=world.a.org
    )
    assert out == str(role in allowed_roles(Device, "add"))
    # Nobody may add in the other organization.
    other = _render(
        '{% can_create "devices.Device" organization=org as c %}{{ c }}', user, org=world.b.org
    )
    assert other == "False"


def test_site_narrowed_technician_acts_only_on_its_sites(world):
    tech = world.site_technician
    mine, other = world.a.sites
    alert_here, _ = raise_alert(
        organization=world.a.org, kind="t", title="a", severity="low", dedupe_key="h", site=mine
    )
    alert_there, _ = raise_alert(
        organization=world.a.org, kind="t", title="b", severity="low", dedupe_key="o", site=other
    )
    assert permits(tech, "acknowledge", alert_here)
    assert not permits(tech, "acknowledge", alert_there)


def test_unknown_action_and_anonymous_hide_the_button(world, alert):
    from django.contrib.auth.models import AnonymousUser

    assert not permits(world.a.user(Role.ADMIN), "no-such-verb", alert)
    assert not permits(AnonymousUser(), "acknowledge", alert)
    assert not permits(world.outsider, "acknowledge", alert)


def test_navigation_entry_with_a_permission(world):
    register("Only adders", "web:home", order=1, permission=("devices.Device", "add"))
    try:
        admin, auditor = world.a.user(Role.ADMIN), world.a.user(Role.AUDITOR)

        def labels(user):
            return [i["label"] for i in items_for(set(), user=user, organization=world.a.org)]

        assert Role.ADMIN in allowed_roles(Device, "add")
        assert "Only adders" in labels(admin)
        assert "Only adders" not in labels(auditor)
    finally:
        del _items["web:home"]
