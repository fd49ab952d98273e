"""The hub's sweep, driven directly: many listeners (more than one chunk), events arriving between
chunks, audiences sharing runs, listeners leaving mid-sweep, and the log trimmed behind them.

The listeners here are recorders implementing the hub's side of the socket interface (``audience``,
``take``, ``access_changed``); the real consumer's side is covered by the websocket tests."""

import asyncio

import pytest

from encompass.events.groups import Reach
from encompass.events.hub import SWEEP_CHUNK, Hub

pytestmark = pytest.mark.asyncio


class Recorder:
    def __init__(self, groups, reach):
        self.audience = (frozenset(groups), reach)
        self.runs = []
        self.rechecks = 0

    def take(self, run):
        self.runs.append(run)

    def access_changed(self):
        self.rechecks += 1

    @property
    def ids(self):
        return [item.id for run in self.runs for item in run.items]


def event(event_id, org=1, site=None, kind="test.tick", **extra):
    return {"id": event_id, "organization": org, "site": site, "device_pk": None, "kind": kind,
            "payload": {}, **extra}  # fmt: skip


def make_hub():
    hub = Hub(asyncio.get_running_loop())
    hub.use_layer = False  # this process is the whole audience
    return hub


async def listen(hub, groups, reach, count=1):
    sockets = []
    for _ in range(count):
        socket = Recorder(groups, reach)
        for group in groups:
            await hub.join(group, socket)
        sockets.append(socket)
    return sockets


async def test_events_arriving_mid_sweep_reach_later_sockets_in_the_same_sweep():
    hub = make_hub()
    everyone = Reach({1}, set())
    sockets = await listen(hub, ["org.1"], everyone, count=SWEEP_CHUNK * 3)
    hub.pending.extend([event(1), event(2)])

    sweep = asyncio.ensure_future(hub.sweep())
    await asyncio.sleep(0)  # the first chunk is written; the sweep yields before the second
    hub.pending.append(event(3))
    await sweep

    first_chunk, later = sockets[:SWEEP_CHUNK], sockets[SWEEP_CHUNK:]
    assert all(s.ids == [1, 2] for s in first_chunk)
    assert all(s.ids == [1, 2, 3] for s in later)  # no wait for the next sweep
    # one shared run (and so one frame) per audience and stretch of the log
    assert len({id(s.runs[0]) for s in later}) == 1

    await hub.sweep()  # the first chunk catches up; nobody gets anything twice
    assert all(s.ids == [1, 2, 3] for s in sockets)
    assert hub.log == []  # every listener is past everything


async def test_reach_and_subscriptions_decide_per_audience():
    hub = make_hub()
    whole_org = (await listen(hub, ["org.1"], Reach({1}, set())))[0]
    site_only = (await listen(hub, ["org.1"], Reach(set(), {7})))[0]
    site_sub = (await listen(hub, ["site.7"], Reach({1}, set())))[0]
    both = (await listen(hub, ["org.1", "site.7"], Reach({1}, set())))[0]
    other_org = (await listen(hub, ["org.2"], Reach({2}, set())))[0]
    hub.pending.extend([event(1, site=7), event(2, site=8), event(3), event(4, org=2)])
    await hub.sweep()
    assert whole_org.ids == [1, 2, 3]
    assert site_only.ids == [1]  # a site-narrowed member sees only their site's events
    assert site_sub.ids == [1]
    assert both.ids == [1, 2, 3]  # once each, in log order, though two groups matched event 1
    assert other_org.ids == [4]


async def test_a_socket_that_left_is_skipped_and_does_not_hold_the_log():
    hub = make_hub()
    reach = Reach({1}, set())
    stays, leaves = await listen(hub, ["org.1"], reach, count=2)
    await hub.leave("org.1", leaves)
    hub.pending.append(event(1))
    await hub.sweep()
    assert stays.ids == [1] and leaves.ids == []
    assert hub.log == [] and leaves not in hub.listeners


async def test_duplicates_from_the_layer_are_dropped_and_membership_changes_recheck():
    hub = make_hub()
    reach = Reach({1}, set())
    (socket,) = await listen(hub, ["org.1"], reach)
    await hub.join("user.5", socket)
    hub.pending.extend([event(1), event(1)])
    await hub.sweep()
    hub.pending.extend(
        [event(1), event(2, kind="membership.changed", payload={"user": 5}), event(3)]
    )
    await hub.sweep()
    assert socket.ids == [1, 2, 3]
    assert socket.rechecks == 1


async def test_dispatch_starts_the_sweeps():
    hub = make_hub()
    (socket,) = await listen(hub, ["org.1"], Reach({1}, set()))
    hub.dispatch([event(1)])
    for _ in range(50):
        await asyncio.sleep(0.01)
        if socket.ids:
            break
    assert socket.ids == [1]
    hub.dispatch([event(2), event(3)])
    await asyncio.sleep(0.05)
    assert socket.ids == [1, 2, 3]
    hub._fanout.cancel()


async def test_one_failing_socket_does_not_hold_up_the_others(caplog):
    hub = make_hub()
    reach = Reach({1}, set())
    first, broken, last = await listen(hub, ["org.1"], reach, count=3)

    def fail(run):
        raise RuntimeError("this socket is broken")

    broken.take = fail
    hub.pending.append(event(1))
    await hub.sweep()
    assert first.ids == [1] and last.ids == [1]
    assert "handing events to a websocket failed" in caplog.text


async def test_a_closed_hub_stops_its_fan_out_and_takes_nothing_more():
    """At shutdown the server closes the hub: the fan-out task ends, and events still arriving
    (the layer reader's last messages) start no new one."""
    hub = make_hub()
    [socket] = await listen(hub, ["org.1"], Reach({1}, set()))
    hub.dispatch([event(1)])
    for _ in range(50):
        if socket.ids:
            break
        await asyncio.sleep(0.01)
    assert socket.ids == [1]
    fanout = hub._fanout
    assert fanout is not None and not fanout.done()  # it waits for the next events
    await hub.close()
    assert fanout.done() and hub._fanout is None
    hub.dispatch([event(2)])
    await asyncio.sleep(0.05)
    assert hub._fanout is None and socket.ids == [1]
