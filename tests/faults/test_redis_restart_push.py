"""Live push across processes after a Redis restart: a web process (its own daphne) and events
raised elsewhere (this test process, as the worker does), with the suite's own redis-server
killed and started again empty between them.

Before the fix the hub never re-joined its channel-layer groups: 0 of N events reached sockets
open before the restart, 0 of N new sockets of the same groups, and a member removed after the
restart kept receiving every event."""

import asyncio
import json

import pytest
import websockets
from django.conf import settings
from django.db import connection
from django.test import Client

from encompass.events.services import record_event
from encompass.tenancy.models import Membership
from encompass.tenancy.roles import Role
from encompass.tenancy.services import remove_membership
from encompass.testing.servers import WebServer, database_url

from .conftest import report, scale

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.faults, pytest.mark.slow]


@pytest.fixture
def web(tmp_path, redis_process, settings):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    # This process is "the worker": its events go through the same (own) Redis.
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_process.url], "prefix": "faults"},
        }
    }
    env = {
        "REDIS_URL": redis_process.url,
        "ENCOMPASS_CHANNEL_PREFIX": "faults",
        "ENCOMPASS_EVENT_TAIL": "0",
        "ENCOMPASS_LAYER_CHECK_SECONDS": "0.5",
        "LOG_LEVEL": "WARNING",
    }
    with WebServer(database_url(connection.settings_dict), tmp_path / "web.log", env=env) as server:
        yield server


def _cookie(user):
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


class Socket:
    """A websocket client as the web UI is: subscribes to an organization, keeps the ids it saw,
    and on ``resync`` subscribes again from the id the server names."""

    def __init__(self, server, cookie, org_pk):
        self.server, self.cookie, self.org_pk = server, cookie, org_pk
        self.ids, self.frames, self.unsubscribed = set(), 0, False

    async def __aenter__(self):
        self.ws = await websockets.connect(
            f"ws://127.0.0.1:{self.server.port}/ws/events/",
            additional_headers={"Cookie": self.cookie, "Origin": self.server.url},
        )
        await self.subscribe(None)
        self.task = asyncio.create_task(self._read())
        return self

    async def subscribe(self, since):
        message = {"type": "subscribe", "scope": "organization", "id": self.org_pk, "since": since}
        await self.ws.send(json.dumps(message))

    async def _read(self):
        async for text in self.ws:
            message = json.loads(text)
            if message["type"] in ("event", "events"):
                events = message.get("events") or [message["event"]]
                for event in events:
                    self.frames += 1
                    self.ids.add(event["id"])
            elif message["type"] == "resync":
                await self.subscribe(message["since"])
            elif message["type"] == "unsubscribed":
                self.unsubscribed = True

    async def __aexit__(self, *exc):
        self.task.cancel()
        await self.ws.close()


def _raise(org, n, tag):
    return [record_event(f"fault.{tag}", organization=org, payload={"n": i}).pk for i in range(n)]


async def _until(predicate, timeout=20.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.1)
    return predicate()


def test_push_resumes_after_a_redis_restart(world, web, redis_process):
    from channels.db import database_sync_to_async

    org, n = world.a.org, scale(20, 200)
    cookie = _cookie(world.a.user(Role.OPERATOR))

    async def scenario():
        async with Socket(web, cookie, org.pk) as before:
            await asyncio.sleep(1)  # subscribed, hub joined
            first = await database_sync_to_async(_raise)(org, n, "before")
            assert await _until(lambda: set(first) <= before.ids)
            redis_process.restart()  # comes back empty: every group membership gone
            second = await database_sync_to_async(_raise)(org, n, "after")
            async with Socket(web, cookie, org.pk) as fresh:
                await asyncio.sleep(1)
                third = await database_sync_to_async(_raise)(org, n, "later")
                ok = await _until(lambda: set(second + third) <= before.ids)
                ok_fresh = await _until(lambda: set(third) <= fresh.ids)
                return first, second, third, before, fresh, ok, ok_fresh

    first, second, third, before, fresh, ok, ok_fresh = asyncio.run(scenario())
    sent = set(first + second + third)
    report(
        "redis-restart-push",
        sent=len(sent),
        pushed=len(sent & before.ids),
        pushed_new_socket=len(set(third) & fresh.ids),
        frames=before.frames,
        missing=len(sent - before.ids),
    )
    assert ok, f"missing after the restart: {len(sent - before.ids)} of {len(sent)}"
    assert ok_fresh, f"a new socket got {len(set(third) & fresh.ids)} of {len(third)}"


def test_a_member_removed_after_a_redis_restart_stops_receiving(world, web, redis_process):
    from channels.db import database_sync_to_async

    org, n = world.a.org, scale(20, 100)
    leaver = world.a.user(Role.OPERATOR)
    cookie = _cookie(leaver)
    membership = Membership.objects.get(user=leaver, organization=org)

    async def scenario():
        async with Socket(web, cookie, org.pk) as socket:
            await asyncio.sleep(1)
            first = await database_sync_to_async(_raise)(org, 5, "before")
            assert await _until(lambda: set(first) <= socket.ids)
            redis_process.restart()
            # Pushed at once, to a group nobody is in yet: this membership.changed is lost.
            await database_sync_to_async(remove_membership)(
                membership, actor=world.a.user(Role.ADMIN)
            )
            assert await _until(lambda: socket.unsubscribed, timeout=10)
            later = await database_sync_to_async(_raise)(org, n, "later")
            await asyncio.sleep(2)
            return set(later) & socket.ids, later

    leaked, later = asyncio.run(scenario())
    report("redis-restart-removed-member", sent=len(later), pushed=len(leaked))
    assert not leaked
