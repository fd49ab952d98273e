"""Websocket fan-out: 1,000 clients on one web process (``python -m encompass.server``), 100
events/s stored and published by another process (through Redis), commit-to-client latency
p50 / p99 and events lost -- beside a bare ``websockets`` server broadcasting the same payloads to
the same clients (the baseline).

    DATABASE_URL=postgres://... REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/fanout.py

Environment: BENCH_CLIENTS (1000; a comma list runs several sizes), BENCH_RATE (100 events/s),
BENCH_SECONDS (10), BENCH_CLIENT_PROCS (2 processes hold the client sockets), BENCH_MODES
(``batch,event``: sockets opened with ``?batch=1`` as the web UI opens them, then plain ones),
BENCH_SERVERS (``encompass.server``; ``daphne,encompass.server`` also measures plain daphne, where
every frame goes through ASGI), BENCH_BASELINE (1), BENCH_IDLE (20 s of silence ends a client;
what has not arrived by then is lost), BENCH_CONNECT_CONCURRENCY (20 handshakes in flight per
client process). Creates and drops ``encompass_bench`` (or ENCOMPASS_BENCH_DATABASE).
"""

import array
import asyncio
import collections
import json
import multiprocessing
import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import WebProcess, drop_database, free_port, recreate_database, setup_django

CLIENT_COUNTS = [int(n) for n in os.environ.get("BENCH_CLIENTS", "1000").split(",")]
RATE = float(os.environ.get("BENCH_RATE", "100"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
CLIENT_PROCS = int(os.environ.get("BENCH_CLIENT_PROCS", "2"))
# Handshakes in flight per client process: a reconnect storm is paced like a browser fleet's
# back-off would pace it, not fired all at once.
CONNECT_CONCURRENCY = int(os.environ.get("BENCH_CONNECT_CONCURRENCY", "20"))
IDLE = float(os.environ.get("BENCH_IDLE", "20"))
MODES = os.environ.get("BENCH_MODES", "batch,event").split(",")
SERVERS = os.environ.get("BENCH_SERVERS", "encompass.server").split(",")
BASELINE = os.environ.get("BENCH_BASELINE", "1") == "1"

BASELINE_SERVER = r"""
import asyncio, json, sys, time
import websockets

clients = set()
async def handler(ws):
    clients.add(ws)
    try:
        await ws.wait_closed()
    finally:
        clients.discard(ws)

async def main(port, expected, rate, seconds, template):
    # No permessage-deflate: daphne does not compress either, and per-socket compression would
    # make the baseline pay a cost the server under test does not.
    async with websockets.serve(handler, "127.0.0.1", port, max_queue=None, compression=None,
                                backlog=4096, ping_interval=None, open_timeout=60):
        deadline = time.time() + 300
        while len(clients) < expected and time.time() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(1)
        interval = 1 / rate
        start = time.perf_counter()
        for n in range(int(rate * seconds)):
            event = dict(template, id=n + 1, payload={"t": time.time(), "n": n})
            message = json.dumps({"type": "event", "event": event}, separators=(",", ":"))
            websockets.broadcast(clients, message)
            delay = start + (n + 1) * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        await asyncio.sleep(3)

asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]),
                 json.loads(sys.argv[5])))
"""

# The bench payload is {"t": <commit time>, "n": <sequence>}; clients pull just those two numbers
# out of each frame with one regex instead of parsing the JSON, so the client side costs as
# little as it can and the figures measure the server.
TICK = re.compile(rb'"payload":\s*\{"t":\s*([0-9.e+-]+),\s*"n":\s*(\d+)\}')


def client_worker(url, headers, count, subscribe, events, ready, results):
    """Hold ``count`` sockets; report latencies (ms), distinct events received per socket, frames
    and why sockets failed. One process, one event loop, the cheap client of ``_wsclient``."""
    from _wsclient import connect

    failures = collections.Counter()
    latencies = array.array("d")
    seen = [bytearray(events) for _ in range(count)]
    state = {"frames": 0, "last": time.monotonic()}

    def receiver(index, subscribed):
        mine = seen[index]

        def on_message(raw):
            now = time.time()
            state["frames"] += 1
            state["last"] = time.monotonic()
            if not subscribed.done():
                if b'"subscribed"' in raw:
                    subscribed.set_result(None)
                return
            for t, n in TICK.findall(raw):
                latencies.append((now - float(t)) * 1000)
                mine[int(n)] = 1

        return on_message

    async def session(index, handshakes, sockets):
        loop = asyncio.get_running_loop()
        subscribed = loop.create_future()
        try:
            async with handshakes:
                ws = await asyncio.wait_for(connect(url, headers, receiver(index, subscribed)), 60)
                if subscribe:
                    ws.send_text(json.dumps(subscribe))
                    await asyncio.wait_for(subscribed, 60)
                else:
                    subscribed.set_result(None)
            sockets.append(ws)
        except Exception as exc:
            failures[type(exc).__name__ + ": " + str(exc)[:80]] += 1

    async def main():
        handshakes = asyncio.Semaphore(CONNECT_CONCURRENCY)
        sockets = []
        await asyncio.gather(*(session(i, handshakes, sockets) for i in range(count)))
        ready.put((len(sockets), dict(failures)))
        # Done when nothing has arrived for IDLE seconds (the producer runs, then goes quiet);
        # what has not arrived by then counts as lost.
        state["last"] = time.monotonic()
        while time.monotonic() - state["last"] < IDLE:
            await asyncio.sleep(0.5)
        for ws in sockets:
            ws.transport.close()
        results.put((latencies, [m.count(1) for m in seen], state["frames"]))

    asyncio.run(main())


def run_clients(clients, url, headers, subscribe, produce):
    events = int(RATE * SECONDS)
    ready, results = multiprocessing.Queue(), multiprocessing.Queue()
    per = [
        clients // CLIENT_PROCS + (1 if i < clients % CLIENT_PROCS else 0)
        for i in range(CLIENT_PROCS)
    ]
    procs = [
        multiprocessing.Process(
            target=client_worker,
            args=(url, headers, n, subscribe, events, ready, results),
        )
        for n in per
        if n
    ]
    began = time.perf_counter()
    for p in procs:
        p.start()
    connected, failures = 0, collections.Counter()
    for _ in procs:
        ok, failed = ready.get(timeout=600)
        connected += ok
        failures.update(failed)
    connect_seconds = time.perf_counter() - began
    produced = produce()
    latencies, received, frames = array.array("d"), [], 0
    for _ in procs:
        lat, rec, fr = results.get(timeout=600)
        latencies.extend(lat)
        received += rec
        frames += fr
    for p in procs:
        p.join()
    # Sockets that failed to connect received nothing: every event is lost for them too.
    lost = len(produced) * clients - sum(received)
    return {
        "clients": clients,
        "connected": connected,
        "failures": failures,
        "connect_s": connect_seconds,
        "latencies": latencies,
        "lost": lost,
        "expected": len(produced) * clients,
        "frames": frames,
    }


def report(name, result, rss=None):
    latencies = sorted(result["latencies"])
    if latencies:
        p50 = latencies[len(latencies) // 2]
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    else:
        p50 = p99 = float("nan")
    rss_text = f"  web RSS={rss:.0f} MB" if rss is not None else ""
    print(
        f"{name:40s} connected={result['connected']}/{result['clients']} "
        f"(in {result['connect_s']:.1f} s) deliveries={len(latencies)}/{result['expected']} "
        f"frames={result['frames']} p50={p50:8.1f} ms  p99={p99:8.1f} ms  "
        f"lost={result['lost']}{rss_text}",
        flush=True,
    )
    for reason, n in result["failures"].most_common(3):
        print(f"    {n} socket(s) failed: {reason}", flush=True)
    if rss is not None:
        misses = [
            text
            for text, missed in (
                (f"p99 {p99:.0f} ms >= 50 ms", not p99 < 50),
                (f"{result['lost']} lost", result["lost"] > 0),
                (f"RSS {rss:.0f} MB >= 300 MB", rss >= 300),
            )
            if missed
        ]
        verdict = "met" if not misses else "NOT met: " + ", ".join(misses)
        print(f"    goal (p99 < 50 ms, none lost, RSS < 300 MB): {verdict}", flush=True)


def main():
    if not os.environ.get("REDIS_URL"):
        sys.exit(
            "bench/fanout.py publishes from another process: set REDIS_URL (Redis channel layer)."
        )
    os.environ["ENCOMPASS_CHANNEL_PREFIX"] = f"bench{os.getpid()}"
    bench_url = recreate_database()
    web = None
    try:
        setup_django(bench_url)
        from django.conf import settings
        from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
        from django.contrib.sessions.backends.db import SessionStore
        from django.db import transaction

        from encompass.events.groups import serialize_event
        from encompass.events.services import record_event
        from encompass.tenancy.roles import Role
        from encompass.testing.factories import make_member, make_org

        org = make_org("Bench", "bench")
        user = make_member(org, Role.OPERATOR)
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        # The baseline sends the same event shape (same fields, same payload size).
        template = serialize_event(
            record_event("bench.template", organization=org, payload={"t": 0, "n": 0})
        )
        subscribe = {"type": "subscribe", "scope": "organization", "id": org.pk, "since": None}
        print(
            f"{int(RATE * SECONDS)} events at {RATE:.0f}/s; {CLIENT_PROCS} client process(es); "
            f"{os.cpu_count()} CPUs",
            flush=True,
        )

        def produce():
            ids = []
            time.sleep(1)
            interval = 1 / RATE
            start = time.perf_counter()
            for n in range(int(RATE * SECONDS)):
                payload = {"t": 0, "n": n}
                with transaction.atomic():
                    event = record_event("bench.tick", organization=org, payload=payload)
                    # The pushed copy shares this dict: stamp it as the transaction commits.
                    payload["t"] = time.time()
                ids.append(event.pk)
                delay = start + (n + 1) * interval - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            return ids

        for clients in CLIENT_COUNTS:
            for server, mode in [(server, mode) for server in SERVERS for mode in MODES]:
                web = WebProcess(
                    bench_url,
                    server,
                    ENCOMPASS_CHANNEL_PREFIX=os.environ["ENCOMPASS_CHANNEL_PREFIX"],
                    ENCOMPASS_WS_QUEUE="2000",
                )
                headers = {
                    "Cookie": f"{settings.SESSION_COOKIE_NAME}={session.session_key}",
                    "Origin": f"http://127.0.0.1:{web.port}",
                }
                query = "?batch=1" if mode == "batch" else ""
                url = f"ws://127.0.0.1:{web.port}/ws/events/{query}"
                result = run_clients(clients, url, headers, subscribe, produce)
                web.stop()
                report(f"{server} /ws/events/{query}", result, web.peak_rss)
                web = None
            if BASELINE:
                report("bare websockets broadcast", run_baseline(clients, template))
    finally:
        if web is not None:
            web.stop()
        from django.db import connections

        connections.close_all()
        drop_database()


def run_baseline(clients, template):
    port = free_port()
    template = {k: v for k, v in template.items() if k not in ("id", "payload")}
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            BASELINE_SERVER,
            str(port),
            str(clients),
            str(RATE),
            str(SECONDS),
            json.dumps(template),
        ]
    )
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)

        def produce_baseline():
            server.wait(timeout=600)
            return list(range(int(RATE * SECONDS)))

        return run_clients(clients, f"ws://127.0.0.1:{port}/", {}, None, produce_baseline)
    finally:
        server.kill()


if __name__ == "__main__":
    main()
