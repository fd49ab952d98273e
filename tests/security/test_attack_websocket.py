"""Websocket subscriptions: every scope the consumer offers (read from the consumer itself, so a
new scope is probed), by every role of tenant A, the site-narrowed technician and a user of no
organization: another organization's object and a missing id get the same refusal, and nothing
of tenant B is ever delivered."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings

from devices.choices import LifecycleState
from encompass.asgi import application
from encompass.events.consumers import _scope_models
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device
from encompass.testing.web import web
from tests.events.conftest import ORIGIN, subscribe

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio, pytest.mark.slow]


def _cookie(user):
    return web(user).cookies[settings.SESSION_COOKIE_NAME].value


async def _connect(user):
    cookie = await database_sync_to_async(_cookie)(user)
    headers = [ORIGIN, (b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode())]
    comm = WebsocketCommunicator(application, "/ws/events/", headers=headers)
    connected, _ = await comm.connect(timeout=5)
    assert connected
    return comm


def _targets(world):
    """scope -> (tenant B's object, a missing id, tenant A's other-site object for the technician)"""
    theirs = make_device(world.b.org, site=world.b.sites[0], state=LifecycleState.DEPLOYED)
    other_site_device = make_device(world.a.org, site=world.a.sites[1])
    rows = {
        "organization": (world.b.org.pk, None),
        "site": (world.b.sites[0].pk, world.a.sites[1].pk),
        "device": (theirs.pk, other_site_device.pk),
    }
    missing = {
        scope: (model._default_manager.order_by("-pk").values_list("pk", flat=True).first() or 0)
        + 10_000
        for scope, (model, *_rest) in _scope_models().items()
    }
    return rows, missing


async def test_subscriptions_to_other_scopes_look_missing(world, capsys):
    scopes = list(_scope_models())
    rows, missing = await database_sync_to_async(_targets)(world)
    assert set(rows) == set(scopes), f"add the new scope(s) {set(scopes) - set(rows)} here"
    actors = {f"A {role}": world.a.user(role) for role in Role.values}
    actors["A site technician"] = world.site_technician
    actors["no organization"] = world.outsider
    probes = 0
    for label, user in actors.items():
        comm = await _connect(user)
        for scope in scopes:
            foreign, narrowed = rows[scope]
            absent = await subscribe(comm, scope, missing[scope])
            assert absent["type"] == "error", (label, scope, absent)
            candidates = [foreign] + (
                [narrowed] if label == "A site technician" and narrowed else []
            )
            for pk in candidates:
                refused = await subscribe(comm, scope, pk)
                probes += 1
                assert refused["type"] == "error", (label, scope, pk, refused)
                assert refused["reason"] == absent["reason"], (label, scope, refused, absent)
        await comm.disconnect()
    with capsys.disabled():
        print(f"\nwebsocket matrix: {len(scopes)} scopes x {len(actors)} actors, {probes} refusals")


async def test_own_scope_is_granted_to_a_member(world):
    comm = await _connect(world.a.user(Role.OPERATOR))
    ok = await subscribe(comm, "organization", world.a.org.pk)
    assert ok["type"] == "subscribed"
    await comm.disconnect()
