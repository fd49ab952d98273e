"""Batch frames (``/ws/events/?batch=1``): events that go out in the same delivery sweep share one
``{"type": "events"}`` frame; sockets that did not ask keep getting one ``event`` frame each."""

import pytest
from channels.db import database_sync_to_async
from django.db import transaction
from django.utils import timezone

from encompass.events.models import Event
from encompass.events.services import publish_events
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device

from .conftest import connect, drain, subscribe

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def _store_together(org, specs):
    """Several events stored in one transaction and published as one batch (as ingest does)."""
    with transaction.atomic():
        now = timezone.now()
        events = [Event.objects.create(organization=org, received_at=now, **spec) for spec in specs]
        publish_events(events)
    return [e.pk for e in events]


def _event_ids(messages):
    """Event ids in arrival order, from both frame types; and the frame types seen."""
    ids, kinds = [], []
    for m in messages:
        if m["type"] == "events":
            ids += [e["id"] for e in m["events"]]
        elif m["type"] == "event":
            ids.append(m["event"]["id"])
        else:
            continue
        kinds.append(m["type"])
    return ids, kinds


async def test_a_batch_goes_out_as_one_frame_only_to_sockets_that_asked(world):
    batched, _ = await connect(world.a.user(Role.OPERATOR), path="/ws/events/?batch=1")
    classic, _ = await connect(world.a.user(Role.AUDITOR))
    for comm in (batched, classic):
        assert (await subscribe(comm, "organization", world.a.org.pk))["type"] == "subscribed"
    ids = await database_sync_to_async(_store_together)(
        world.a.org, [{"kind": f"test.batch{i}", "source": "platform"} for i in range(5)]
    )
    got, kinds = _event_ids(await drain(batched, 0.6))
    assert got == ids and kinds == ["events"]
    got, kinds = _event_ids(await drain(classic, 0.6))
    assert got == ids and kinds == ["event"] * 5
    await batched.disconnect()
    await classic.disconnect()


async def test_batch_frames_keep_per_event_authorization(world):
    mine, other = world.a.sites
    comm, _ = await connect(world.site_technician, path="/ws/events/?batch=1")
    assert (await subscribe(comm, "organization", world.a.org.pk))["type"] == "subscribed"
    ids = await database_sync_to_async(_store_together)(
        world.a.org,
        [
            {"kind": "test.other_site", "source": "platform", "site": other},
            {"kind": "test.mine1", "source": "platform", "site": mine},
            {"kind": "test.org_wide", "source": "platform"},
            {"kind": "test.mine2", "source": "platform", "site": mine},
        ],
    )
    got, _ = _event_ids(await drain(comm, 0.6))
    assert got == [ids[1], ids[3]]
    await comm.disconnect()


async def test_batch_frames_deduplicate_across_subscriptions(world):
    device = await database_sync_to_async(make_device)(world.a.org, site=world.a.sites[0])
    comm, _ = await connect(world.a.user(Role.OPERATOR), path="/ws/events/?batch=1")
    await subscribe(comm, "organization", world.a.org.pk)
    await subscribe(comm, "device", device.pk)
    await subscribe(comm, "site", world.a.sites[0].pk)
    ids = await database_sync_to_async(_store_together)(
        world.a.org,
        [{"kind": "test.dev", "source": "platform", "device": device, "site": world.a.sites[0]}]
        * 3,
    )
    got, _ = _event_ids(await drain(comm, 0.6))
    assert got == ids  # each once, though three subscriptions match each
    await comm.disconnect()


async def test_replay_comes_in_batch_frames_marked_replay(world):
    ids = await database_sync_to_async(_store_together)(
        world.a.org, [{"kind": f"test.old{i}", "source": "platform"} for i in range(4)]
    )
    comm, _ = await connect(world.a.user(Role.OPERATOR), path="/ws/events/?batch=1")
    answer = await subscribe(comm, "organization", world.a.org.pk, since=ids[0])
    assert answer["replayed"] == 3
    messages = await drain(comm, 0.6)
    frames = [m for m in messages if m["type"] == "events"]
    assert len(frames) == 1 and frames[0]["replay"] is True
    assert [e["id"] for e in frames[0]["events"]] == ids[1:]
    await comm.disconnect()


async def test_batch_flag_is_off_unless_asked(world):
    comm, _ = await connect(world.a.user(Role.OPERATOR), path="/ws/events/?batch=0")
    await subscribe(comm, "organization", world.a.org.pk)
    ids = await database_sync_to_async(_store_together)(
        world.a.org, [{"kind": f"test.x{i}", "source": "platform"} for i in range(2)]
    )
    messages = await drain(comm, 0.6)
    assert [m["event"]["id"] for m in messages if m["type"] == "event"] == ids
    assert not [m for m in messages if m["type"] == "events"]
    await comm.disconnect()
