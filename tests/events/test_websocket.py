"""The /ws/events/ websocket: auth, origin, scope isolation, replay, slow clients, access changes."""

import asyncio
import json

import pytest
from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from django.urls import path
from rest_framework.test import APIClient

from devices.choices import LifecycleState
from devices.services import rotate_device_token
from encompass.events.consumers import EventConsumer
from encompass.events.services import record_event
from encompass.tenancy.models import Membership
from encompass.tenancy.roles import Role
from encompass.tenancy.services import remove_membership
from encompass.testing.factories import make_device

from .conftest import connect, drain, fake_event, next_message, subscribe

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def _event(kind, org, **kwargs):
    return database_sync_to_async(record_event)(kind, organization=org, **kwargs)


def _device_with_token(world):
    device = make_device(world.a.org, site=world.a.sites[0], state=LifecycleState.DEPLOYED)
    return rotate_device_token(device, actor=world.a.user(Role.ADMIN))


def _is_event(kind=None):
    return lambda m: m["type"] == "event" and (kind is None or m["event"]["kind"] == kind)


def _is_newer(since):
    return lambda m: m["type"] == "event" and m["event"]["id"] > since


async def test_unauthenticated_socket_is_closed_4401(world):
    comm, connected = await connect(None)
    assert connected
    assert (await comm.receive_output(timeout=3)) == {"type": "websocket.close", "code": 4401}


async def test_foreign_origin_is_refused(world):
    user = world.a.user(Role.OPERATOR)
    _comm, connected = await connect(user, origin=(b"origin", b"https://evil.example"))
    assert not connected
    _comm, connected = await connect(user, origin=None)
    assert not connected


async def test_privileged_role_without_second_factor_is_closed(world):
    comm, connected = await connect(world.a.user(Role.ADMIN))
    assert connected
    assert (await comm.receive_output(timeout=3))["code"] == 4403


async def test_scope_isolation_between_tenants(world):
    comm, _ = await connect(world.a.user(Role.OPERATOR))
    refused = await subscribe(comm, "organization", world.b.org.pk)
    assert refused["type"] == "error" and refused["id"] == world.b.org.pk
    refused_site = await subscribe(comm, "site", world.b.sites[0].pk)
    assert refused_site["type"] == "error"
    missing = await subscribe(comm, "site", 999999)
    assert missing["reason"] == refused_site["reason"]  # missing and forbidden look the same
    ok = await subscribe(comm, "organization", world.a.org.pk)
    assert ok["type"] == "subscribed"
    await _event("test.theirs", world.b.org)
    await _event("test.mine", world.a.org)
    got = await next_message(comm, _is_event())
    assert got["event"]["kind"] == "test.mine"
    assert not [m for m in await drain(comm) if m["type"] == "event"]
    await comm.disconnect()


async def test_site_narrowed_member_only_gets_their_sites(world):
    comm, _ = await connect(world.site_technician)
    mine, other = world.a.sites
    assert (await subscribe(comm, "site", other.pk))["type"] == "error"
    assert (await subscribe(comm, "organization", world.a.org.pk))["type"] == "subscribed"
    await _event("test.other_site", world.a.org, site=other)
    await _event("test.org_wide", world.a.org)
    await _event("test.my_site", world.a.org, site=mine)
    events = [m["event"]["kind"] for m in await drain(comm, 0.6) if m["type"] == "event"]
    assert events == ["test.my_site"]
    await comm.disconnect()


async def test_device_scope_and_bad_requests(world):
    device = await database_sync_to_async(make_device)(world.a.org, site=world.a.sites[1])
    comm, _ = await connect(world.a.user(Role.AUDITOR))
    for bad in (
        {"type": "subscribe", "scope": "planet", "id": 1},
        {"type": "subscribe", "scope": "device", "id": "x"},
        {"type": "dance"},
    ):
        await comm.send_to(text_data=json.dumps(bad))
        assert (await next_message(comm))["type"] == "error"
    await comm.send_to(text_data="{oops")
    assert (await next_message(comm))["reason"] == "Not valid JSON."
    assert (await subscribe(comm, "device", device.pk))["type"] == "subscribed"
    await _event("test.device", world.a.org, device=device)
    await _event("test.not_this_device", world.a.org)
    got = await next_message(comm, _is_event())
    assert got["event"]["device_pk"] == device.pk
    assert (got["event"]["device"], got["event"]["device_name"]) == (device.uid, device.name)
    assert not [m for m in await drain(comm) if m["type"] == "event"]
    await comm.disconnect()


async def test_replay_from_an_event_id_then_live(world, settings):
    org = world.a.org
    first = await _event("test.before", org)
    missed = [await _event(f"test.missed{i}", org) for i in range(3)]
    await _event("test.other_tenant", world.b.org)
    comm, _ = await connect(world.a.user(Role.OPERATOR))
    answer = await subscribe(comm, "organization", org.pk, since=first.pk)
    assert answer["replayed"] == 3
    replayed = [await next_message(comm, _is_event()) for _ in range(3)]
    assert [m["event"]["id"] for m in replayed] == [e.pk for e in missed]
    assert all(m.get("replay") for m in replayed)
    live = await _event("test.live", org)
    assert (await next_message(comm, _is_event()))["event"]["id"] == live.pk
    await comm.disconnect()


async def test_replay_is_bounded_and_says_so(world, settings):
    settings.ENCOMPASS = {**settings.ENCOMPASS, "REPLAY_LIMIT": 2}
    org = world.a.org
    marker = await _event("test.marker", org)
    events = [await _event(f"test.e{i}", org) for i in range(5)]
    comm, _ = await connect(world.a.user(Role.OPERATOR))
    await subscribe(comm, "organization", org.pk, since=marker.pk)
    got = [await next_message(comm, _is_event()) for _ in range(2)]
    truncated = await next_message(comm)
    assert truncated["type"] == "replay_truncated" and truncated["next"] == got[-1]["event"]["id"]
    # asking again from "next" continues where it stopped, with no duplicates (on PostgreSQL a
    # replay may also bring events below "next" from transactions that could have committed
    # after it: never one this socket was sent)
    await subscribe(comm, "organization", org.pk, since=truncated["next"])
    newer = [await next_message(comm, _is_newer(truncated["next"])) for _ in range(2)]
    ids = [m["event"]["id"] for m in got + newer]
    assert ids == [e.pk for e in events[:4]]
    await comm.disconnect()


async def test_same_event_through_two_scopes_arrives_once(world):
    device = await database_sync_to_async(make_device)(world.a.org, site=world.a.sites[0])
    comm, _ = await connect(world.a.user(Role.OPERATOR))
    await subscribe(comm, "organization", world.a.org.pk)
    await subscribe(comm, "site", world.a.sites[0].pk)
    await subscribe(comm, "device", device.pk)
    await _event("test.once", world.a.org, device=device)
    assert len([m for m in await drain(comm, 0.6) if m["type"] == "event"]) == 1
    await comm.disconnect()


async def test_membership_removal_drops_the_subscription(world):
    user = world.a.user(Role.OPERATOR)
    comm, _ = await connect(user)
    await subscribe(comm, "organization", world.a.org.pk)

    def remove():
        membership = Membership.objects.get(user=user, organization=world.a.org)
        remove_membership(membership, actor=world.a.user(Role.ADMIN))

    await database_sync_to_async(remove)()
    dropped = await next_message(comm, lambda m: m["type"] == "unsubscribed")
    assert dropped["scope"] == "organization" and dropped["id"] == world.a.org.pk
    await _event("test.after_removal", world.a.org)
    assert not [m for m in await drain(comm) if m["type"] == "event"]
    assert (await subscribe(comm, "organization", world.a.org.pk))["type"] == "error"
    await comm.disconnect()


async def test_device_ingest_reaches_subscribed_socket(world):
    device, token = await database_sync_to_async(_device_with_token)(world)
    comm, _ = await connect(world.a.user(Role.OPERATOR))
    await subscribe(comm, "device", device.pk)

    def post():
        return APIClient().post(
            "/api/device/v1/events",
            [
                {
                    "id": "w1",
                    "kind": "telemetry",
                    "occurred_at": "2030-01-01T00:00:00Z",
                    "payload": {"metrics": {"temp_c": 20}},
                }
            ],
            format="json",
            HTTP_AUTHORIZATION=f"Device {token}",
        )

    from django.utils import timezone

    now = timezone.now().isoformat()

    def post_now():
        return APIClient().post(
            "/api/device/v1/events",
            [
                {
                    "id": "w2",
                    "kind": "telemetry",
                    "occurred_at": now,
                    "payload": {"metrics": {"temp_c": 20}},
                }
            ],
            format="json",
            HTTP_AUTHORIZATION=f"Device {token}",
        )

    assert (await database_sync_to_async(post)()).json()["rejected"] == 1  # far future
    response = await database_sync_to_async(post_now)()
    assert response.json()["accepted"] == 1
    got = await next_message(comm, _is_event("device.telemetry"))
    assert got["event"]["event_id"] == "w2" and got["event"]["payload"]["metrics"] == {"temp_c": 20}
    await comm.disconnect()


class _Gate:
    def __init__(self):
        self.open = asyncio.Event()


async def test_slow_client_gets_resync_and_recovers_by_replay(world, settings):
    settings.ENCOMPASS = {**settings.ENCOMPASS, "WEBSOCKET_QUEUE_SIZE": 3}
    gate = _Gate()

    class SlowNetworkConsumer(EventConsumer):
        async def _deliver(self, text):
            if json.loads(text)["type"] == "event":
                await gate.open.wait()  # the network to this client is stuck
            await super()._deliver(text)

    app = AuthMiddlewareStack(URLRouter([path("ws/events/", SlowNetworkConsumer.as_asgi())]))
    slow, _ = await connect(world.a.user(Role.OPERATOR), app=app)
    fast, _ = await connect(world.a.user(Role.AUDITOR))
    await subscribe(slow, "organization", world.a.org.pk)
    await subscribe(fast, "organization", world.a.org.pk)
    events = [await _event(f"test.burst{i}", world.a.org) for i in range(10)]
    # the fast client is not held up by the slow one
    fast_ids = [(await next_message(fast, _is_event()))["event"]["id"] for _ in range(10)]
    assert fast_ids == [e.pk for e in events]
    gate.open.set()
    messages = await drain(slow, 0.6)
    resync = [m for m in messages if m["type"] == "resync"]
    assert len(resync) == 1
    delivered = {m["event"]["id"] for m in messages if m["type"] == "event"}
    assert len(delivered) < 10  # some were dropped for this socket...
    await subscribe(slow, "organization", world.a.org.pk, since=resync[0]["since"])
    replayed = {m["event"]["id"] for m in await drain(slow, 0.6) if m["type"] == "event"}
    assert delivered | replayed == {e.pk for e in events}  # ...and recovered by replay
    assert not delivered & replayed  # and never shown twice
    await slow.disconnect()
    await fast.disconnect()


async def test_a_burst_bigger_than_the_queue_is_not_an_overflow(world, settings):
    """An ingest batch goes into a socket's outbox as one entry: a client that keeps up is never
    told to resync because one batch held more events than its queue has slots."""
    settings.ENCOMPASS = {**settings.ENCOMPASS, "WEBSOCKET_QUEUE_SIZE": 3}
    from django.utils import timezone

    device, token = await database_sync_to_async(_device_with_token)(world)
    comm, _ = await connect(world.a.user(Role.OPERATOR))
    await subscribe(comm, "device", device.pk)
    now = timezone.now().isoformat()
    batch = [
        {"id": f"b{i}", "kind": "telemetry", "occurred_at": now, "payload": {"metrics": {"n": i}}}
        for i in range(20)
    ]

    def post():
        return APIClient().post(
            "/api/device/v1/events", batch, format="json", HTTP_AUTHORIZATION=f"Device {token}"
        )

    assert (await database_sync_to_async(post)()).json()["accepted"] == 20
    messages = await drain(comm, 0.6)
    assert "resync" not in [m["type"] for m in messages]
    telemetry = [m["event"] for m in messages if m["type"] == "event"]
    telemetry = [e for e in telemetry if e["kind"] == "device.telemetry"]
    assert [e["event_id"] for e in telemetry] == [f"b{i}" for i in range(20)]
    await comm.disconnect()


async def test_subscribed_then_replay_then_live(world):
    """A live event stored while a subscription's replay is read comes after ``subscribed``."""
    during = []

    class EventDuringReplay(EventConsumer):
        def _replay(self, key, since):
            rows = super()._replay(key, since)
            during.append(record_event("test.during", organization=world.a.org))
            return rows

    app = AuthMiddlewareStack(URLRouter([path("ws/events/", EventDuringReplay.as_asgi())]))
    comm, _ = await connect(world.a.user(Role.OPERATOR), app=app)
    await subscribe(comm, "organization", world.a.org.pk)
    before = await _event("test.before", world.a.org, site=world.a.sites[0])
    await drain(comm, 0.3)
    await comm.send_to(
        text_data=json.dumps(
            {"type": "subscribe", "scope": "site", "id": world.a.sites[0].pk,
             "since": before.pk - 1}
        )
    )  # fmt: skip
    messages = await drain(comm, 0.6)
    assert [m["type"] for m in messages] == ["subscribed", "event"]
    assert messages[0]["replayed"] == 1  # "before", already sent live: not sent again
    assert messages[1]["event"]["id"] == during[0].pk
    await comm.disconnect()


async def test_a_socket_cancelled_without_disconnect_leaves_nothing_behind(world):
    """At shutdown (or when it stops waiting) the server cancels a socket's application without
    a ``websocket.disconnect``: its sender must end with it and the hub must stop writing to it."""
    from channels import DEFAULT_CHANNEL_LAYER
    from channels.layers import channel_layers

    from encompass.events.groups import BATCH_MESSAGE, organization_group
    from encompass.events.hub import get_hub

    comm, _ = await connect(world.a.user(Role.OPERATOR))
    await subscribe(comm, "organization", world.a.org.pk)
    hub = get_hub()
    [socket] = list(hub.listeners)
    sender = socket.sender
    comm.future.cancel()
    with pytest.raises(asyncio.CancelledError):
        await comm.future
    assert sender.done()
    assert socket not in hub.listeners
    assert not any(socket in sockets for sockets in hub.members.values())
    group = organization_group(world.a.org.pk)
    if hub.use_layer:  # the group it emptied is left on the layer by the next join
        assert group in hub.forgotten
    # A new socket joins the same group again and gets what another process publishes to it.
    other, _ = await connect(world.a.user(Role.OPERATOR))
    await subscribe(other, "organization", world.a.org.pk)
    assert not hub.forgotten
    await _event("test.after", world.a.org)
    assert (await next_message(other, _is_event()))["event"]["kind"] == "test.after"
    if hub.use_layer:
        elsewhere = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
        event = fake_event(10**9, world.a.org.pk, kind="test.elsewhere")
        await elsewhere.group_send(group, {"type": BATCH_MESSAGE, "events": [event]})
        got = await next_message(other, _is_event("test.elsewhere"))
        assert got["event"]["id"] == 10**9
        await elsewhere.close_pools()
    await other.disconnect()
