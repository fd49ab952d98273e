"""Ingest speed: events/s through the real HTTP device API (batches of 1,000, one daphne
process, PostgreSQL) against raw psycopg COPY of the same rows into the same table.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/encompass .venv/bin/python bench/ingest.py

Creates (and drops) its own database ``encompass_bench``. Prints both rates, the ratio (goal:
at least 0.25) and the web process's peak RSS (goal: under 300 MB).
"""

import datetime
import json
import os
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import WebProcess, drop_database, recreate_database, setup_django

BATCH = 1000
BATCHES = int(os.environ.get("BENCH_INGEST_BATCHES", "40"))
CLIENTS = int(os.environ.get("BENCH_INGEST_CLIENTS", "2"))


def items(prefix, n, now):
    return [
        {
            "id": f"{prefix}-{i}",
            "kind": "telemetry",
            "occurred_at": now,
            "payload": {"metrics": {"temp_c": 20 + (i % 50) / 10, "rh": 40 + i % 7}},
        }
        for i in range(n)
    ]


def main():
    bench_url = recreate_database()
    web = None
    try:
        setup_django(bench_url)
        import httpx
        import psycopg
        from django.utils import timezone

        from devices.choices import LifecycleState
        from devices.services import rotate_device_token
        from encompass.tenancy.roles import Role
        from encompass.testing.factories import make_device, make_member, make_org, make_site

        org = make_org("Bench", "bench")
        site = make_site(org)
        admin = make_member(org, Role.ADMIN)
        devices = []
        for _ in range(CLIENTS):
            device = make_device(org, site=site, state=LifecycleState.DEPLOYED)
            devices.append(rotate_device_token(device, actor=admin))
        web = WebProcess(bench_url)
        now = timezone.now().isoformat()
        bodies = [json.dumps(items(f"http{b}", BATCH, now)).encode() for b in range(BATCHES)]

        def send(worker):
            _device, token = devices[worker]
            accepted = 0
            with httpx.Client(base_url=web.url, timeout=60) as client:
                headers = {"Authorization": f"Device {token}", "Content-Type": "application/json"}
                client.post(
                    "/api/device/v1/events",
                    content=json.dumps(items(f"warm{worker}", 10, now)),
                    headers=headers,
                )
                for body in bodies[worker::CLIENTS]:
                    response = client.post("/api/device/v1/events", content=body, headers=headers)
                    response.raise_for_status()
                    accepted += response.json()["accepted"]
            return accepted

        started = time.perf_counter()
        with ThreadPoolExecutor(CLIENTS) as pool:
            accepted = sum(pool.map(send, range(CLIENTS)))
        http_seconds = time.perf_counter() - started
        http_rate = accepted / http_seconds

        device = devices[0][0]
        received = datetime.datetime.now(datetime.UTC)
        occurred = datetime.datetime.fromisoformat(now)
        rows = [
            (
                org.pk,
                site.pk,
                device.pk,
                "device.telemetry",
                "device",
                "info",
                f"copy-{uuid.uuid4().hex}",
                occurred,
                received,
                json.dumps({"metrics": {"temp_c": 20 + (i % 50) / 10, "rh": 40 + i % 7}}),
            )
            for i in range(BATCH * BATCHES)
        ]
        started = time.perf_counter()
        with psycopg.connect(bench_url) as conn, conn.cursor() as cur:
            for start in range(0, len(rows), BATCH):
                with cur.copy(
                    "COPY events_event (organization_id, site_id, device_id, kind, source,"
                    " severity, event_id, occurred_at, received_at, payload) FROM STDIN"
                ) as copy:
                    for row in rows[start : start + BATCH]:
                        copy.write_row(row)
                conn.commit()
        copy_seconds = time.perf_counter() - started
        copy_rate = len(rows) / copy_seconds

        print(f"events: {accepted} over HTTP in {BATCHES} batches of {BATCH} ({CLIENTS} client(s))")
        print(f"HTTP device API : {http_rate:10.0f} events/s ({http_seconds:.2f} s)")
        print(
            f"psycopg COPY    : {copy_rate:10.0f} events/s ({copy_seconds:.2f} s, commit per 1,000)"
        )
        print(f"ratio HTTP/COPY : {http_rate / copy_rate:10.2f}  (goal >= 0.25)")
        print(f"web process peak RSS: {web.peak_rss:.0f} MB (goal < 300 MB)")
    finally:
        if web is not None:
            web.stop()
        from django.db import connections

        connections.close_all()
        drop_database()


if __name__ == "__main__":
    main()
