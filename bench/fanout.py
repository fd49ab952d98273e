"""Websocket fan-out: 1,000 clients on one daphne process, 100 events/s stored and published by
another process (through Redis), commit-to-client latency p50 / p99 and events lost -- beside a
bare ``websockets`` server broadcasting the same payloads to the same clients (the baseline).

    DATABASE_URL=postgres://... REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/fanout.py

Environment: BENCH_CLIENTS (1000), BENCH_RATE (100 events/s), BENCH_SECONDS (10),
BENCH_CLIENT_PROCS (2 processes hold the client sockets). Creates and drops ``encompass_bench``.
"""

import asyncio
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import WebProcess, drop_database, free_port, recreate_database, setup_django

CLIENTS = int(os.environ.get("BENCH_CLIENTS", "1000"))
RATE = float(os.environ.get("BENCH_RATE", "100"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
CLIENT_PROCS = int(os.environ.get("BENCH_CLIENT_PROCS", "2"))

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

async def main(port, expected, rate, seconds):
    async with websockets.serve(handler, "127.0.0.1", port, max_queue=None):
        while len(clients) < expected:
            await asyncio.sleep(0.1)
        await asyncio.sleep(1)
        interval = 1 / rate
        start = time.perf_counter()
        for n in range(int(rate * seconds)):
            message = json.dumps({"type": "event", "event": {"id": n + 1, "kind": "bench.tick",
                                  "payload": {"t": time.time(), "n": n}}})
            websockets.broadcast(clients, message)
            delay = start + (n + 1) * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        await asyncio.sleep(3)

asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])))
"""


def client_worker(url, headers, count, subscribe, ready, results):
    """Hold ``count`` sockets; report latencies (ms) and ids received per socket."""
    import websockets

    async def one(index, latencies, received, go):
        try:
            await session(index, latencies, received, go)
        except Exception as exc:  # a refused or failed socket still counts as "ready"
            failures.append(repr(exc))
            go.release()

    async def session(index, latencies, received, go):
        async with websockets.connect(
            url, additional_headers=headers, max_queue=None, open_timeout=60, ping_interval=None
        ) as ws:
            if subscribe:
                await ws.send(json.dumps(subscribe))
                while json.loads(await ws.recv())["type"] != "subscribed":
                    pass
            go.release()
            try:
                while True:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 6))
                    if message.get("type") != "event":
                        continue
                    event = message["event"]
                    if event["kind"] != "bench.tick":
                        continue
                    latencies.append((time.time() - event["payload"]["t"]) * 1000)
                    received[index].add(event["id"])
            except (TimeoutError, websockets.ConnectionClosed):
                return

    failures = []

    async def main():
        latencies, received = [], [set() for _ in range(count)]
        go = asyncio.Semaphore(0)
        tasks = []
        for i in range(count):
            tasks.append(asyncio.create_task(one(i, latencies, received, go)))
            if i % 50 == 49:
                await asyncio.sleep(0.05)
        for _ in range(count):
            await go.acquire()
        ready.put(count - len(failures))
        if failures:
            print(f"{len(failures)} socket(s) failed, e.g. {failures[0]}", file=sys.stderr)
        await asyncio.gather(*tasks, return_exceptions=True)
        results.put((latencies, [sorted(r) for r in received]))

    asyncio.run(main())


def run_clients(url, headers, subscribe, produce):
    ready, results = multiprocessing.Queue(), multiprocessing.Queue()
    per = [
        CLIENTS // CLIENT_PROCS + (1 if i < CLIENTS % CLIENT_PROCS else 0)
        for i in range(CLIENT_PROCS)
    ]
    procs = [
        multiprocessing.Process(
            target=client_worker, args=(url, headers, n, subscribe, ready, results)
        )
        for n in per
    ]
    for p in procs:
        p.start()
    connected = sum(ready.get(timeout=300) for _ in procs)
    produced = produce()
    latencies, received = [], []
    for _ in procs:
        lat, rec = results.get(timeout=300)
        latencies += lat
        received += rec
    for p in procs:
        p.join()
    expected = set(produced)
    lost = sum(len(expected - set(r)) for r in received)
    return connected, latencies, lost, len(expected) * connected


def report(name, connected, latencies, lost, expected):
    if latencies:
        q = statistics.quantiles(latencies, n=100)
        p50, p99 = statistics.median(latencies), q[98]
    else:
        p50 = p99 = float("nan")
    print(
        f"{name:28s} clients={connected} deliveries={len(latencies)}/{expected} "
        f"p50={p50:7.1f} ms  p99={p99:7.1f} ms  lost={lost}"
    )


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
        web = WebProcess(
            bench_url,
            ENCOMPASS_CHANNEL_PREFIX=os.environ["ENCOMPASS_CHANNEL_PREFIX"],
            ENCOMPASS_WS_QUEUE="2000",
        )
        headers = {
            "Cookie": f"{settings.SESSION_COOKIE_NAME}={session.session_key}",
            "Origin": f"http://127.0.0.1:{web.port}",
        }

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

        subscribe = {"type": "subscribe", "scope": "organization", "id": org.pk, "since": None}
        result = run_clients(f"ws://127.0.0.1:{web.port}/ws/events/", headers, subscribe, produce)
        print(f"{int(RATE * SECONDS)} events at {RATE:.0f}/s to {CLIENTS} sockets")
        report("Encompass /ws/events/", *result)
        print(f"web process peak RSS: {web.peak_rss:.0f} MB (goal < 300 MB)")
        web.stop()
        web = None

        port = free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-c",
                BASELINE_SERVER,
                str(port),
                str(CLIENTS),
                str(RATE),
                str(SECONDS),
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
                return list(range(1, int(RATE * SECONDS) + 1))

            result = run_clients(f"ws://127.0.0.1:{port}/", {}, None, produce_baseline)
            report("bare websockets broadcast", *result)
        finally:
            server.kill()
    finally:
        if web is not None:
            web.stop()
        from django.db import connections

        connections.close_all()
        drop_database()


if __name__ == "__main__":
    main()
