"""The direct frame writer (``encompass.events.wire``) and the publisher loop, with real things.

* ``text_frame`` against RFC 6455 §5.2, byte for byte and through the ``websockets`` parser.
* One ``python -m encompass.server`` process (in-memory channel layer, so its events come from its
  own HTTP ingest) and real websocket clients: ``?batch=1`` and plain sockets get every event once,
  in id order; another tenant's socket gets none of them; a replay after live delivery repeats
  nothing.
* Back-pressure over real TCP: a client with a tiny receive buffer stops reading, falls behind,
  gets a ``resync`` and recovers the rest by replay, while a normal client gets everything.
* ``realtime.push`` from sync code: threads share one publisher loop; a new process gets its own.
"""

import asyncio
import contextlib
import json
import os
import socket
import threading
import time

import httpx
import pytest
import websockets
from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import InMemoryChannelLayer, channel_layers
from django.conf import settings
from django.db import connection
from django.test import Client
from django.utils import timezone
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from devices.choices import LifecycleState
from devices.services import rotate_device_token
from encompass.events import groups, realtime
from encompass.events.models import Event
from encompass.events.wire import text_frame
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device
from encompass.testing.servers import WebServer, database_url

from .conftest import fake_event

WS_QUEUE = 50  # the server's per-socket outbox (ENCOMPASS_WS_QUEUE): small, so overflow is quick
TIMEOUT = 30


# --- 1. the frame header ---------------------------------------------------------------------------


def _parse_frames(data):
    """Every frame in ``data`` as the ``websockets`` client reads them (server frames: unmasked)."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    frames = []
    while True:
        at_eof = reader.at_eof()
        try:
            next(at_eof)
        except StopIteration as done:
            if done.value:
                return frames
        parser = Frame.parse(reader.read_exact, mask=False)
        try:
            next(parser)
        except StopIteration as done:
            frames.append(done.value)
        else:
            raise AssertionError("a truncated frame")


@pytest.mark.parametrize(
    ("size", "header"),
    [
        (0, b"\x81\x00"),
        (125, b"\x81\x7d"),
        (126, b"\x81\x7e\x00\x7e"),
        (65535, b"\x81\x7e\xff\xff"),
        (65536, b"\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
    ],
)
def test_text_frame_header_is_rfc6455(size, header):
    payload = bytes(0x20 + (i * 7) % 95 for i in range(size))  # printable ASCII, not one repeat
    frame = text_frame(payload)
    # FIN + text opcode, no mask bit, the shortest length encoding, then the payload as is.
    assert frame[: len(header)] == header
    assert frame[len(header) :] == payload
    # Two frames back to back (as a run of events is written) read back as exactly those two.
    decoded = _parse_frames(frame + frame)
    assert len(decoded) == 2
    for parsed in decoded:
        assert parsed.opcode is Opcode.TEXT and parsed.fin
        assert not (parsed.rsv1 or parsed.rsv2 or parsed.rsv3)
        assert bytes(parsed.data) == payload


# --- a real server process -----------------------------------------------------------------------


class Server(WebServer):
    def websocket(self, cookie, *, batch=False, **kwargs):
        return websockets.connect(
            f"ws://127.0.0.1:{self.port}/ws/events/" + ("?batch=1" if batch else ""),
            additional_headers={"Cookie": cookie, "Origin": self.url},
            max_size=None,  # a batch frame of a big ingest batch is megabytes
            open_timeout=10,
            **kwargs,
        )


@pytest.fixture(scope="module")
def server(django_db_setup, tmp_path_factory):
    """One ``python -m encompass.server`` on the test database, without Redis: the in-memory
    channel layer, so the events its sockets get are the ones its own ingest stores."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (a second process shares the test database)")
    running = Server(
        database_url(connection.settings_dict),
        tmp_path_factory.mktemp("wire") / "server.log",
        env={
            "REDIS_URL": None,
            "ENCOMPASS_EVENT_TAIL": "0",
            "DEBUG": "0",
            "LOG_LEVEL": "WARNING",
            "ENCOMPASS_DEVICE_RATE": "100000/min",
            "ENCOMPASS_WS_QUEUE": str(WS_QUEUE),
        },
    ).start()
    try:
        yield running
    finally:
        assert running.stop(), "the server did not stop on SIGTERM"


@pytest.fixture
def quiet_server(server):
    """The server, checked after the test for errors it logged (a failed sweep is only logged)."""
    start = len(server.output())
    yield server
    logged = server.output()[start:]
    assert "Traceback" not in logged and "ERROR" not in logged, logged[-5000:]


def _cookie(user):
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def _device_with_token(tenant):
    device = make_device(tenant.org, site=tenant.sites[0], state=LifecycleState.DEPLOYED)
    return rotate_device_token(device, actor=tenant.user(Role.ADMIN))


def _telemetry(tag, count, metrics=3):
    """``count`` telemetry items; with many metrics (long names) each is close to the 8 KB limit."""
    now = timezone.now().isoformat()
    items = []
    for i in range(count):
        values = {f"{tag}.{'m' * 40}.{j:03d}": round(i + j / 1000, 3) for j in range(metrics)}
        items.append(
            {
                "id": f"{tag}-{i}",
                "kind": "telemetry",
                "occurred_at": now,
                "payload": {"metrics": values},
            }
        )
    return items


async def _post(http, server, token, items):
    """Ingest ``items`` through the server's device API; their event ids, in order."""
    response = await http.post(
        f"{server.url}/api/device/v1/events",
        content=json.dumps(items, separators=(",", ":")),
        headers={"Authorization": f"Device {token}", "Content-Type": "application/json"},
        timeout=60,
    )
    assert response.status_code == 200, response.text[:2000]
    answer = response.json()
    assert answer["accepted"] == len(items), answer
    return [result["event"] for result in answer["results"]]


def _post_sync(server, token, items):
    async def post():
        async with httpx.AsyncClient() as http:
            return await _post(http, server, token, items)

    return asyncio.run(post())


def _last_event_id():
    return Event.objects.order_by("-id").values_list("id", flat=True).first() or 0


async def _receive(ws, timeout=TIMEOUT):
    raw = await asyncio.wait_for(ws.recv(), timeout)
    assert isinstance(raw, str), "events come in text frames"
    return json.loads(raw)  # each frame is one valid JSON document


def _events(message):
    if message["type"] == "event":
        return [message["event"]]
    if message["type"] == "events":
        return message["events"]
    return []


async def _subscribe(ws, scope, pk, since=None):
    """Subscribe; the answer, and whatever came before it."""
    await ws.send(json.dumps({"type": "subscribe", "scope": scope, "id": pk, "since": since}))
    before = []
    while True:
        message = await _receive(ws)
        if message["type"] in ("subscribed", "error"):
            assert message["type"] == "subscribed", message
            return message, before
        before.append(message)


async def _read_until(ws, wanted):
    """Messages until every event id in ``wanted`` has arrived."""
    messages, seen = [], set()
    while not wanted <= seen:
        try:
            message = await _receive(ws)
        except TimeoutError:
            raise AssertionError(f"{len(wanted - seen)} event(s) never arrived") from None
        messages.append(message)
        seen.update(event["id"] for event in _events(message))
    return messages


def _ids(messages):
    return [event["id"] for message in messages for event in _events(message)]


# --- 2. fan-out through the fast path ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_fast_path_delivers_every_event_once_in_order_to_its_tenant_only(world, quiet_server):
    server = quiet_server
    a_device, a_token = _device_with_token(world.a)
    _b_device, b_token = _device_with_token(world.b)
    # A device's first report also stores ``device.health_changed`` (pushed before the batch it
    # came with, though its id is higher): done here, before the stream under test.
    for token in (a_token, b_token):
        _post_sync(server, token, _telemetry("warm-up", 1))
    before = _last_event_id()
    batch_cookie = _cookie(world.a.user(Role.OPERATOR))
    plain_cookie = _cookie(world.a.user(Role.AUDITOR))
    other_cookie = _cookie(world.b.user(Role.OPERATOR))
    posted = {}  # event_id (the device's) -> payload

    async def scenario():
        async with (
            server.websocket(batch_cookie, batch=True) as batched,
            server.websocket(plain_cookie) as plain,
            server.websocket(other_cookie) as other,
            httpx.AsyncClient() as http,
        ):
            for ws, org in ((batched, world.a.org), (plain, world.a.org), (other, world.b.org)):
                _answer, early = await _subscribe(ws, "organization", org.pk)
                assert early == []
            ids = []
            for n in range(3):
                items = _telemetry(f"live{n}", 100)
                posted.update((item["id"], item["payload"]) for item in items)
                ids += await _post(http, server, a_token, items)
            got = {
                "batched": await _read_until(batched, set(ids)),
                "plain": await _read_until(plain, set(ids)),
            }
            # B's socket works (it gets B's event) and got none of A's before it.
            [b_id] = await _post(http, server, b_token, _telemetry("theirs", 1))
            got["other"] = await _read_until(other, {b_id})
            # A second scope with a replay from before the events: all of them are replayed...
            replays = {}
            for name, ws in (("batched", batched), ("plain", plain)):
                answer, early = await _subscribe(ws, "device", a_device.pk, since=before)
                replays[name] = (answer["replayed"], early)
            # ...and none goes out again: the next thing either socket gets is the next event.
            [sentinel] = await _post(http, server, a_token, _telemetry("sentinel", 1))
            after = {
                "batched": await _read_until(batched, {sentinel}),
                "plain": await _read_until(plain, {sentinel}),
            }
            return ids, b_id, sentinel, got, replays, after

    ids, b_id, sentinel, got, replays, after = asyncio.run(scenario())

    assert len(ids) == 300 and ids == sorted(ids)
    # Every event exactly once, in id order, on both kinds of socket, and nothing else.
    for name in ("batched", "plain"):
        assert _ids(got[name]) == ids, name
        for message in got[name]:
            for event in _events(message):
                assert event["organization"] == world.a.org.pk
                assert event["device_pk"] == a_device.pk and event["device"] == a_device.uid
                assert event["device_name"] == a_device.name  # ingest's events name their device
                assert event["kind"] == "device.telemetry"
                assert event["payload"] == posted[event["event_id"]]  # each frame intact
                assert "replay" not in message
    # (No resync either: a client that keeps up never gets one.)
    assert {m["type"] for m in got["plain"]} == {"event"}
    assert {m["type"] for m in got["batched"]} <= {"event", "events"}
    # An ingest batch goes out together: as ``events`` frames on the batch socket.
    assert len(got["batched"]) < len(ids)
    assert any(len(m["events"]) > 1 for m in got["batched"] if m["type"] == "events")
    # Cross-tenant isolation: B's operator got B's event only.
    assert _ids(got["other"]) == [b_id]
    assert [m["type"] for m in got["other"]] == ["event"]
    # The replay found all 300 (so they would have been sent) but sent none of them again. (On
    # PostgreSQL it also reads the few events just below `since` whose transactions may have
    # committed after it: never one of these, and never one above `since` twice.)
    for name in ("batched", "plain"):
        replayed, early = replays[name]
        assert replayed >= len(ids), name
        assert not [e for m in early for e in _events(m) if e["id"] > before], name
        after[name] = [m for m in after[name] if any(e["id"] > before for e in _events(m))]
        assert _ids(after[name]) == [sentinel], name
        assert [m["type"] for m in after[name]] == ["event"], name
        assert not any(m.get("replay") for m in after[name]), name
    # And that was everything the two tenants stored meanwhile.
    stored = Event.objects.filter(id__gt=before).order_by("id")
    assert list(stored.filter(organization=world.a.org).values_list("id", flat=True)) == [
        *ids,
        sentinel,
    ]
    assert list(stored.filter(organization=world.b.org).values_list("id", flat=True)) == [b_id]


# --- 3. back-pressure ----------------------------------------------------------------------------

BULK_BATCHES = 3
BULK_EVENTS = 500  # x ~7 KB: a 3.5 MB request, under the 4 MB ingest limit
TRICKLE_MAX = 300  # events posted one by one while the slow client catches up (~60 are)
CATCH_UP_PAUSE = 0.008  # seconds per message: ~1 MB/s, so the client drains its backlog in seconds


async def _until(condition, task, message, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not condition():
        if task.done():
            task.result()  # its exception, if it failed
            raise AssertionError(f"{message} (it stopped)")
        assert time.monotonic() < deadline, message
        await asyncio.sleep(0.02)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_client_that_stops_reading_gets_resync_and_recovers_by_replay(world, quiet_server):
    server = quiet_server
    device, token = _device_with_token(world.a)
    _post_sync(server, token, _telemetry("warm-up", 1))
    before = _last_event_id()
    slow_cookie = _cookie(world.a.user(Role.OPERATOR))
    fast_cookie = _cookie(world.a.user(Role.AUDITOR))
    bulk, trickle, fast_messages, slow_messages = [], [], [], []

    async def scenario():
        raw = socket.socket()
        # Before connecting, so the window the client offers stays tiny.
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.connect(("127.0.0.1", server.port))
        async with (
            # max_queue=1: the client library stops reading from the socket after a frame or two
            # nobody takes; no keepalive pings, whose pongs it would not read either.
            server.websocket(slow_cookie, sock=raw, max_queue=1, ping_interval=None) as slow,
            server.websocket(fast_cookie, batch=True) as fast,
            httpx.AsyncClient() as http,
        ):
            for ws in (slow, fast):
                _answer, early = await _subscribe(ws, "organization", world.a.org.pk)
                assert early == []

            async def read_fast():
                while True:
                    fast_messages.append(await _receive(fast, timeout=None))

            loop = asyncio.get_running_loop()
            reader = loop.create_task(read_fast())
            try:
                for n in range(BULK_BATCHES):
                    bulk.extend(
                        await _post(http, server, token, _telemetry(f"bulk{n}", BULK_EVENTS, 100))
                    )
                # The normal client gets everything while the slow one has read nothing.
                await _until(
                    lambda: set(bulk) <= set(_ids(fast_messages)),
                    reader,
                    "the normal client was held up",
                )
                # Now the slow client reads, at a modest pace until its resync arrives, while
                # events keep coming one by one: some arrive while what was queued for it waits in
                # its outbox, and must not overtake it.
                resynced = asyncio.Event()

                async def keep_posting():
                    n = 0
                    while not resynced.is_set() and n < TRICKLE_MAX:
                        trickle.extend(await _post(http, server, token, _telemetry(f"t{n}", 1)))
                        n += 1
                        await asyncio.sleep(0.02)

                poster = loop.create_task(keep_posting())
                got, deadline = set(), time.monotonic() + 2 * TIMEOUT
                while not (poster.done() and {*bulk, *trickle} <= got):
                    missing = len({*bulk, *trickle} - got)
                    resyncs = sum(m["type"] == "resync" for m in slow_messages)
                    stuck = f"stuck: {missing} events missing, {resyncs} resync(s)"
                    assert time.monotonic() < deadline, stuck
                    try:
                        message = await _receive(slow)
                    except TimeoutError:
                        raise AssertionError(stuck) from None
                    slow_messages.append(message)
                    if not resynced.is_set():
                        await asyncio.sleep(CATCH_UP_PAUSE)
                    got.update(event["id"] for event in _events(message))
                    if message["type"] == "resync":
                        resynced.set()
                        since = message["since"]
                    elif message["type"] == "replay_truncated":
                        since = message["next"]
                    else:
                        continue
                    subscribe = {"type": "subscribe", "scope": "organization", "id": world.a.org.pk}
                    await slow.send(json.dumps({**subscribe, "since": since}))
                poster.result()
                # Nothing more for either: the next thing both get is the next event.
                [sentinel] = await _post(http, server, token, _telemetry("sentinel", 1))
                slow_after = await _read_until(slow, {sentinel})
                await _until(
                    lambda: sentinel in _ids(fast_messages), reader, "the sentinel never came"
                )
            finally:
                reader.cancel()
            return sentinel, slow_after

    sentinel, slow_after = asyncio.run(scenario())

    ids = [*bulk, *trickle]
    assert len(bulk) == BULK_BATCHES * BULK_EVENTS and ids == sorted(ids)
    # The normal client: every event once, in order (then the sentinel).
    assert _ids(fast_messages) == [*ids, sentinel]
    assert {m["type"] for m in fast_messages} <= {"event", "events"}
    # The slow client fell behind (its outbox filled while it did not read: the bulk waits there
    # as a few runs, the trickle's single events fill the entries) and was told to resync once,
    # from the last event before the gap: everything up to there it had been sent.
    resyncs = [m["since"] for m in slow_messages if m["type"] == "resync"]
    assert len(resyncs) == 1, resyncs
    [since] = resyncs
    live = [e["id"] for m in slow_messages if not m.get("replay") for e in _events(m)]
    replayed = [e["id"] for m in slow_messages if m.get("replay") for e in _events(m)]
    # (On PostgreSQL a replay also reads the few events just below `since` whose transactions
    # may have committed after it: here older than the stream, never one it was sent.)
    assert not [i for i in replayed if i <= since and (i > before or i in live)]
    replayed = [i for i in replayed if i > since]
    assert before <= since < ids[-1]
    assert [i for i in ids if i <= since] == [i for i in live if i <= since]
    # Events were dropped for it, and the replay brought exactly those back: all of them, in
    # order, none twice.
    assert replayed, "nothing was replayed: the slow client never fell behind"
    assert min(replayed) > since
    assert live == sorted(live) and replayed == sorted(replayed)
    assert not set(live) & set(replayed), "an event was sent twice"
    assert sorted(live + replayed) == ids
    kinds = {m["type"] for m in slow_messages}
    assert kinds <= {"event", "resync", "subscribed", "replay_truncated"}, kinds
    assert _ids(slow_after) == [sentinel] and not any(m.get("replay") for m in slow_after)
    assert [m["event"]["device_pk"] for m in slow_after] == [device.pk]


# --- 4. shutdown --------------------------------------------------------------------------------


@pytest.mark.parametrize("layer", ["in-memory", "redis"])
@pytest.mark.django_db(transaction=True)
def test_stopping_the_server_with_clients_connected_is_clean(world, tmp_path, layer):
    """SIGTERM while sockets are open and subscribed (as at every deploy): the process stops on
    its own, and every socket's tasks end with it -- nothing is left pending or logged as an
    error."""
    redis_url = os.environ.get("REDIS_URL") if layer == "redis" else None
    if layer == "redis" and not redis_url:
        pytest.skip("needs REDIS_URL")
    env = {
        "REDIS_URL": redis_url,
        "ENCOMPASS_EVENT_TAIL": "0",
        "DEBUG": "0",
        "ENCOMPASS_DEVICE_RATE": "100000/min",
    }
    if redis_url:
        env["ENCOMPASS_CHANNEL_PREFIX"] = f"shutdown{os.getpid()}"
    server = Server(database_url(connection.settings_dict), tmp_path / "server.log", env=env)
    server.start()
    cookie = _cookie(world.a.user(Role.OPERATOR))
    _device, token = _device_with_token(world.a)

    async def scenario():
        sockets = [await server.websocket(cookie, batch=n % 2 == 0) for n in range(40)]
        for ws in sockets:
            await _subscribe(ws, "organization", world.a.org.pk)
        # Events are flowing (the hub's fan-out runs) when the server is told to stop.
        async with httpx.AsyncClient() as http:
            ids = set(await _post(http, server, token, _telemetry("before-stop", 20)))
        for ws in sockets:
            await _read_until(ws, ids)
        async with httpx.AsyncClient() as http:
            await _post(http, server, token, _telemetry("at-stop", 20))
        # Half the clients vanish without a close handshake just as the server is told to stop;
        # the other half are still connected when it goes.
        for ws in sockets[::2]:
            ws.transport.abort()
        stopped = await asyncio.to_thread(server.stop)
        assert stopped, "the server did not stop on SIGTERM"
        for ws in sockets[1::2]:
            with contextlib.suppress(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)  # the server went away under the client

    try:
        asyncio.run(scenario())
    finally:
        server.stop()
    logged = server.output()
    assert "still pending at shutdown" not in logged, logged[-5000:]
    assert "Task was destroyed" not in logged and "ERROR" not in logged, logged[-5000:]
    assert "Traceback" not in logged, logged[-5000:]


# --- 5. the publisher loop -----------------------------------------------------------------------


def _publisher_threads():
    return [t for t in threading.enumerate() if t.name == "encompass-event-publisher"]


def test_push_from_threads_shares_one_publisher_loop_and_a_new_process_gets_its_own(monkeypatch):
    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL: the pushes are observed through the channel layer")
    fresh = realtime._Publisher()  # the real class, in the state a process starts with
    monkeypatch.setattr(realtime, "publisher", fresh)
    org_id = 900_000_000 + os.getpid()  # a group of its own, under this run's channel prefix
    group = groups.organization_group(org_id)
    receiver = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
    assert not isinstance(receiver, InMemoryChannelLayer)
    started = []  # every (loop, thread) the publisher ran, to stop them afterwards

    def concurrently(*batches):
        barrier = threading.Barrier(len(batches))

        def push(ids):
            barrier.wait()  # both threads reach the not-yet-started publisher together
            realtime.push([fake_event(i, org_id, "test.publisher") for i in ids])

        threads = [threading.Thread(target=push, args=(ids,)) for ids in batches]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=TIMEOUT)
        assert not any(thread.is_alive() for thread in threads)

    def fork_and_push(ids):
        """A child process pushes with the publisher it inherited; its exit code says whether it
        ran on a loop of its own (the parent's loop thread does not exist there)."""
        parent_loop = fresh._loop
        pid = os.fork()
        if pid == 0:  # the child
            code = 1
            try:
                realtime.push([fake_event(i, org_id, "test.publisher") for i in ids])
                publisher = realtime.publisher
                own_loop = publisher._loop is not parent_loop and publisher._pid == os.getpid()
                alive = publisher._thread is not None and publisher._thread.is_alive()
                code = 0 if own_loop and alive else 2
            finally:
                os._exit(code)
        deadline = time.monotonic() + TIMEOUT
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                raise AssertionError("the forked child's push hung")
            time.sleep(0.05)

    async def scenario():
        channel = await receiver.new_channel("wire-test.")
        await receiver.group_add(group, channel)

        async def received(count):
            ids = []
            while len(ids) < count:
                message = await asyncio.wait_for(receiver.receive(channel), 10)
                assert message["type"] == groups.BATCH_MESSAGE
                ids += [event["id"] for event in message["events"]]
            return sorted(ids)

        try:
            threads_before = len(_publisher_threads())
            # Two threads push at once into a publisher that has no loop yet.
            await asyncio.to_thread(concurrently, [1, 2, 3], [4, 5])
            assert await received(5) == [1, 2, 3, 4, 5]
            loop, thread = fresh._loop, fresh._thread
            started.append((loop, thread))
            assert loop.is_running() and thread.is_alive() and fresh._pid == os.getpid()
            assert len(_publisher_threads()) == threads_before + 1  # one loop, for both
            # Later pushes, again from several threads, reuse it.
            await asyncio.to_thread(concurrently, [6], [7], [8])
            assert await received(3) == [6, 7, 8]
            assert fresh._loop is loop and fresh._thread is thread
            assert len(_publisher_threads()) == threads_before + 1
            # Another process id (as after a fork): the next push starts a loop of its own.
            fresh._pid = os.getpid() + 1
            await asyncio.to_thread(realtime.push, [fake_event(9, org_id, "test.publisher")])
            started.append((fresh._loop, fresh._thread))
            assert await received(1) == [9]
            assert fresh._loop is not loop and fresh._thread is not thread
            assert fresh._thread.is_alive() and fresh._pid == os.getpid()
            # A real fork: the child's push goes out, from the child's own loop.
            code = await asyncio.to_thread(fork_and_push, [10, 11])
            assert code == 0, f"the child did not push from a loop of its own (exit {code})"
            assert await received(2) == [10, 11]
        finally:
            await receiver.group_discard(group, channel)
            await receiver.close_pools()

    try:
        asyncio.run(scenario())
    finally:
        for loop, thread in started:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
            loop.close()  # and its channel-layer connections
