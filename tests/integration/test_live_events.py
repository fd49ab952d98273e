"""A staff dashboard subscribed to its organization receives, live, what a device reports
through the device API (persist, commit, push through the channel layer)."""

import pytest
from channels.db import database_sync_to_async

from devices.choices import LifecycleState
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device, make_device_type
from tests.events.conftest import connect, drain, next_message, subscribe

from .test_seams import _telemetry, _token_client

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def test_device_event_reaches_a_subscribed_dashboard_live():
    from encompass.testing.world import build_world

    world = await database_sync_to_async(build_world)()

    def device_and_client(tenant):
        dt = make_device_type(tenant.org, supports_certificates=False)
        device = make_device(
            tenant.org, site=tenant.sites[0], device_type=dt, state=LifecycleState.DEPLOYED
        )
        return device, _token_client(device, tenant)

    device, client = await database_sync_to_async(device_and_client)(world.a)
    _other, other_client = await database_sync_to_async(device_and_client)(world.b)
    comm, connected = await connect(world.a.user(Role.OPERATOR))
    assert connected
    answer = await subscribe(comm, "organization", world.a.org.pk)
    assert answer["type"] == "subscribed", answer
    await drain(comm)

    other = await database_sync_to_async(_telemetry)(other_client, 40, 1)
    response = await database_sync_to_async(_telemetry)(client, 42.5, 2)
    assert other.status_code == response.status_code == 200
    message = await next_message(
        comm, lambda m: m["type"] == "event" and m["event"]["kind"] == "device.telemetry"
    )
    event = message["event"]
    assert "replay" not in message
    assert event["device"] == device.uid and event["event_id"] == "t-2"
    assert event["payload"]["metrics"] == {"temp_c": 42.5}
    # Nothing of tenant B's device arrives on tenant A's socket.
    rest = await drain(comm)
    assert all(m.get("event", {}).get("organization") == world.a.org.pk for m in rest), rest
    await comm.disconnect()
