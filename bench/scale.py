"""One big tenant beside a small one: do the small organization's lists stay as fast as with an
empty neighbour, and do the big organization's own lists stay index-backed as it grows?

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/encompass .venv/bin/python bench/scale.py

Creates (and drops) its own database (``ENCOMPASS_BENCH_DATABASE``, default ``encompass_bench``).
Sizes: ``BENCH_SCALE_DEVICES`` (100000) and ``BENCH_SCALE_EVENTS`` (2000000) for the big tenant,
measured first at ``BENCH_SCALE_SMALL_DEVICES`` (1000) devices with events in the same proportion;
``BENCH_SCALE_RUNS`` (5) timed runs per surface, the minimum kept. ``BENCH_SCALE_WRITE_DOCS=0``
prints the table without writing it into docs/performance.md.

Every surface is requested in-process with ``django.test.Client`` (middleware, views, templates,
serializers, SQL; no HTTP socket), signed in as an Operator (staff, for the admin) of the
organization measured. Ratios are against baselines measured in the same run: the small
organization's time with an empty neighbour, and the big organization's time at 1k devices.
"""

import os
import re
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import drop_database, recreate_database, setup_django

DEVICES = int(os.environ.get("BENCH_SCALE_DEVICES", "100000"))
EVENTS = int(os.environ.get("BENCH_SCALE_EVENTS", "2000000"))
SMALL_STEP = int(os.environ.get("BENCH_SCALE_SMALL_DEVICES", "1000"))
RUNS = int(os.environ.get("BENCH_SCALE_RUNS", "5"))
WRITE_DOCS = os.environ.get("BENCH_SCALE_WRITE_DOCS", "1") != "0"
ALERTS = max(10, DEVICES // 100)
GOAL = 1.2  # the small organization's lists within 1.2x of their time with an empty neighbour
DOC = Path(__file__).resolve().parents[1] / "docs" / "performance.md"
BEGIN, END = "<!-- bench/scale.py:begin -->", "<!-- bench/scale.py:end -->"

SURFACES = [  # (name, url, small-tenant surface the 1.2x goal is about)
    ("API event list `GET /api/v1/events/`", "/api/v1/events/", True),
    ("web event feed (dashboard) `/monitoring/`", "/monitoring/", True),
    ("API device list `GET /api/v1/devices/`", "/api/v1/devices/", True),
    ("web device list, page 1 `/devices/`", "/devices/", True),
    ("web device list, last page", "/devices/?page=last", False),
    ("web alert list `/monitoring/alerts/`", "/monitoring/alerts/", False),
    ("admin event changelist", "/admin/events/event/", False),
    ("admin event changelist, security class", "/admin/events/event/?class=security", False),
]


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _last_page(client, url):
    page = client.get("/devices/")
    match = re.search(rb"Page 1 of (\d+)", page.content)
    return url.replace("page=last", f"page={match.group(1).decode() if match else 1}")


def buffers(sqls):
    """8 kB pages the queries on the event, device and alert tables touched (EXPLAIN ANALYZE,
    BUFFERS): the work done, independent of how busy the machine is."""
    import json

    from django.db import connection

    total = 0
    with connection.cursor() as cursor:
        for sql in sqls:
            if not sql.lstrip().upper().startswith("SELECT") or not any(
                f'"{t}"' in sql for t in ("events_event", "devices_device", "monitoring_alert")
            ):
                continue
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql)
            raw = cursor.fetchone()[0]
            plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
            total += plan.get("Shared Hit Blocks", 0) + plan.get("Shared Read Blocks", 0)
    return total


def measure(client):
    """{surface: (seconds, queries, buffers)} for one signed-in client."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    results = {}
    for name, url, _goal in SURFACES:
        if "page=last" in url:
            url = _last_page(client, url)
        response = client.get(url)  # warm: templates, the grant query plan, caches
        with CaptureQueriesContext(connection) as ctx:
            client.get(url)
        sqls = [q["sql"] for q in ctx.captured_queries]  # now: the next request clears the log
        queries, pages = len(sqls), buffers(sqls)
        best = float("inf")
        for _ in range(RUNS):
            started = time.perf_counter()
            response = client.get(url)
            best = min(best, time.perf_counter() - started)
        if response.status_code != 200:
            print(f"warning: {url} answered {response.status_code}")
        results[name] = (best, queries, pages)
    return results


def member(org, username):
    from encompass.tenancy.roles import Role
    from encompass.testing.factories import make_member

    user = make_member(org, Role.OPERATOR, username=username)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


def client_for(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def ms(seconds):
    return f"{seconds * 1000:.0f} ms" if seconds >= 0.01 else f"{seconds * 1000:.1f} ms"


def table(small, big, sizes, timings):
    rows = [
        f"Small organization ({sizes['small']}) beside a big one; the big one at "
        f"{sizes['step']} and {sizes['full']}. Time is the minimum of {RUNS} runs, in-process "
        "`django.test.Client`; queries exact; *buf* = 8 kB pages the page's queries on the "
        "event, device and alert tables touched (`EXPLAIN (ANALYZE, BUFFERS)`: the work, "
        "whatever the machine's load); ratios are of times, against the same run's baseline.",
        "",
        "| surface | small, empty neighbour | small, neighbour at "
        f"{sizes['step_short']} | small, neighbour at {sizes['full_short']} | ratio (goal "
        f"≤ {GOAL}×) | big at {sizes['step_short']} | big at {sizes['full_short']} | ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, _url, goal in SURFACES:
        base, q0, p0 = small["empty"][name]
        mid, q1, p1 = small["step"][name]
        full, q2, p2 = small["full"][name]
        b1, bq1, bp1 = big["step"][name]
        b2, bq2, bp2 = big["full"][name]
        ratio = full / base
        mark = (" ✓" if ratio <= GOAL else " ✗") if goal else ""
        rows.append(
            f"| {name} | {ms(base)}, {q0} q, {p0} buf | {ms(mid)}, {q1} q, {p1} buf | "
            f"{ms(full)}, {q2} q, {p2} buf | {ratio:.2f}×{mark} | {ms(b1)}, {bq1} q, {bp1} buf | "
            f"{ms(b2)}, {bq2} q, {bp2} buf | {b2 / b1:.2f}× |"
        )
    rows += [
        "",
        f"Data built with COPY: {timings['build_step']:.0f} s to {sizes['step']}, "
        f"{timings['build_full']:.0f} s more to {sizes['full']} (plus ANALYZE). Peak RSS of the "
        f"benchmark process (Django, the client and every page rendered): "
        f"{timings['rss']:.0f} MB. Load average (1 min) at the start and end of the "
        f"measurements: {timings['load'][0]:.1f} and {timings['load'][1]:.1f} on 2 vCPUs.",
    ]
    return "\n".join(rows)


def write_docs(text):
    doc = DOC.read_text()
    block = f"{BEGIN}\n{text}\n{END}"
    if BEGIN in doc:
        doc = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _m: block, doc, flags=re.S)
    else:
        doc = doc.rstrip() + f"\n\n## Scale: one big tenant beside small ones\n\n{block}\n"
    DOC.write_text(doc)


def short(n):
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1000}k"


def main():
    bench_url = recreate_database()
    try:
        setup_django(bench_url)
        from scaledata import analyze, grow_tenant, make_tenant, settle

        step_events = EVENTS * SMALL_STEP // DEVICES
        small_org = make_tenant("Small tenant", "small", sites=2)
        grow_tenant(small_org, devices=60, events=3000, alerts=10)
        big_org = make_tenant("Big fleet", "big-fleet", sites=50)
        analyze()
        settle()
        small = client_for(member(small_org, "small-operator"))
        big = client_for(member(big_org, "big-operator"))
        results = {"small": {}, "big": {}}
        timings = {}
        load_start = os.getloadavg()[0]
        results["small"]["empty"] = measure(small)

        started = time.perf_counter()
        grow_tenant(big_org, devices=SMALL_STEP, events=step_events, alerts=ALERTS // 10)
        analyze()
        settle()
        timings["build_step"] = time.perf_counter() - started
        results["small"]["step"] = measure(small)
        results["big"]["step"] = measure(big)

        started = time.perf_counter()
        grow_tenant(big_org, devices=DEVICES, events=EVENTS, alerts=ALERTS)
        analyze()
        settle()
        timings["build_full"] = time.perf_counter() - started
        print(f"built {DEVICES} devices / {EVENTS} events in {timings['build_full']:.0f} s")
        results["small"]["full"] = measure(small)
        results["big"]["full"] = measure(big)
        timings["rss"] = peak_rss_mb()
        timings["load"] = (load_start, os.getloadavg()[0])

        sizes = {
            "small": "60 devices, 3,000 events, 2 sites",
            "step": f"{SMALL_STEP:,} devices / {step_events:,} events",
            "full": f"{DEVICES:,} devices / {EVENTS:,} events / {ALERTS:,} alerts, 50 sites",
            "step_short": short(SMALL_STEP),
            "full_short": short(DEVICES),
        }
        text = table(results["small"], results["big"], sizes, timings)
        print(text)
        if WRITE_DOCS:
            write_docs(text)
            print(f"\nwritten into {DOC}")
    finally:
        from django.db import connections

        connections.close_all()
        drop_database()


if __name__ == "__main__":
    main()
