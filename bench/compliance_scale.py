"""Compliance, exposure and audit at fleet scale: a big tenant beside a small one, the same
surfaces measured on both (queries, time, time ratio big / small, peak RSS).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/encompass \
        .venv/bin/python bench/compliance_scale.py

Creates (and drops) its own database (``ENCOMPASS_BENCH_DATABASE``, default
``encompass_bench_compliance``). Sizes (environment):

    BENCH_DEVICES        devices of the big tenant (default 100000)
    BENCH_SMALL_DEVICES  devices of the small tenant (default 1000)
    BENCH_SITES          sites of each tenant (default 50: the ratio isolates the fleet size)
    BENCH_VULNS          vulnerabilities of the big tenant (default 10000; small: 1% of it, >= 20)
    BENCH_AUDIT_ENTRIES  audit entries in the big tenant's chain (default 500000; small: 2000)

Pages are requested in-process with ``django.test.Client`` (query counts exact, time the minimum
of 3 warm runs) inside a forked child, whose peak RSS (``wait4``) is reported; ``run_checks`` and
``audit_verify`` run in a forked child too (``call_command``: time without interpreter start-up,
peak RSS), and ``run_checks`` once more as a ``manage.py`` subprocess (wall time with start-up).
Prints a markdown table. Builds with ``bulk_create`` (set-up data, like the tests' factories): a
few minutes at the default sizes on a 2-core machine.
"""

import hashlib
import json
import os
import random
import subprocess
import sys
import time
from datetime import timedelta

os.environ.setdefault("ENCOMPASS_BENCH_DATABASE", "encompass_bench_compliance")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ROOT, drop_database, recreate_database, setup_django

BIG = int(os.environ.get("BENCH_DEVICES", "100000"))
SMALL = int(os.environ.get("BENCH_SMALL_DEVICES", "1000"))
SITES = int(os.environ.get("BENCH_SITES", "50"))
VULNS = int(os.environ.get("BENCH_VULNS", "10000"))
AUDIT = int(os.environ.get("BENCH_AUDIT_ENTRIES", "500000"))
TYPES = 10
VERSIONS = ["1.0.0", "1.1.0", "1.2.0", "1.3.0", "2.0.0", "2.1.0"]
BATCH = 5000


def log(text):
    print(text, file=sys.stderr, flush=True)


# --- building a tenant -------------------------------------------------------------------------


def build_tenant(slug, devices, vulns, audit_entries, seed):
    from django.utils import timezone

    from compliance.models import Framework
    from compliance.services.assessments import create_assessment
    from devices.choices import LifecycleState
    from devices.firmware.models import FirmwareRelease, SigningKey
    from devices.models import Device, DeviceType
    from encompass.tenancy.models import Site
    from encompass.tenancy.roles import Role
    from encompass.testing.factories import make_member, make_org
    from risk.cvss import severity_for
    from risk.models import AffectedProduct, Vulnerability

    rng = random.Random(seed)
    now = timezone.now()
    org = make_org(f"Bench {slug}", slug)
    sites = Site.objects.bulk_create(
        [Site(organization=org, name=f"{slug} site {i}", slug=f"{slug}-s{i}") for i in range(SITES)]
    )
    types = [
        DeviceType.objects.create(
            organization=org,
            manufacturer="Acme",
            model=f"{slug}-T{i}",
            heartbeat_interval=60 * (1 + i % 5),
            support_ends_on=(now - timedelta(days=30)).date() if i == 0 else None,
        )
        for i in range(TYPES)
    ]
    key = SigningKey.objects.create(
        organization=org, name="bench", public_key="pk", fingerprint=f"{seed:064x}"
    )
    for dtype in types:
        for n, version in enumerate(VERSIONS):
            status = "revoked" if version == "1.1.0" else ("approved" if n >= 3 else "deprecated")
            release = FirmwareRelease.objects.create(
                organization=org,
                version=version,
                security_version=n + 1,
                size=1,
                sha256=f"{n:064x}",
                signature="s" * 88,
                signing_key=key,
                status=status,
            )
            release.device_types.add(dtype)
    states = (
        [LifecycleState.DEPLOYED] * 90
        + [LifecycleState.MAINTENANCE] * 4
        + [LifecycleState.PROVISIONED] * 3
        + [LifecycleState.DECOMMISSIONED] * 3
    )
    log(f"  {slug}: {devices} devices")
    rows = []
    for i in range(devices):
        dtype = types[i % TYPES]
        n = rng.randrange(len(VERSIONS))
        odd = rng.random() < 0.01
        rows.append(
            Device(
                organization=org,
                site=sites[i % SITES],
                device_type=dtype,
                manufacturer=dtype.manufacturer,
                state=states[rng.randrange(len(states))],
                serial_number=f"{slug}-{i}",
                name=f"{slug}-dev-{i:06d}",
                firmware_version=f"build-{i % 97}" if odd else VERSIONS[n],
                firmware_security_version=n + 1,
                token_hash=""
                if rng.random() < 0.01
                else hashlib.sha256(f"{slug}{i}".encode()).hexdigest(),
                last_seen_at=now - timedelta(hours=6) if rng.random() < 0.05 else now,
            )
        )
        if len(rows) >= BATCH:
            Device.objects.bulk_create(rows)
            rows = []
    Device.objects.bulk_create(rows)
    log(f"  {slug}: {vulns} vulnerabilities")
    vuln_rows = []
    for i in range(vulns):
        score = rng.choice(["9.8", "7.5", "5.3", "3.1"])
        vuln_rows.append(
            Vulnerability(
                organization=org,
                identifier=f"CVE-2026-{100000 + i}",
                title=f"Bench vulnerability {i}",
                cvss_score=score,
                severity=severity_for(score),
                status="open" if i % 4 else "mitigated",
            )
        )
    created = []
    for start in range(0, len(vuln_rows), BATCH):
        created += Vulnerability.objects.bulk_create(vuln_rows[start : start + BATCH])
    products = []
    for i, vuln in enumerate(created):
        for dtype in rng.sample(types, 1 + i % 2):
            low = rng.randrange(len(VERSIONS) - 1)
            high = rng.randrange(low + 1, len(VERSIONS) + 1)
            products.append(
                AffectedProduct(
                    organization=org,
                    vulnerability=vuln,
                    device_type=dtype,
                    introduced_version=VERSIONS[low] if low else "",
                    fixed_version=VERSIONS[high] if high < len(VERSIONS) else "",
                )
            )
    for start in range(0, len(products), BATCH):
        AffectedProduct.objects.bulk_create(products[start : start + BATCH])
    officer = make_member(org, Role.SECURITY_OFFICER)
    auditor = make_member(org, Role.AUDITOR)
    for code in ("etsi-en-303-645", "nist-csf"):
        create_assessment(
            org,
            framework=Framework.objects.get(code=code),
            name=f"{slug} {code}",
            actor=officer,
            start=True,
        )
    log(f"  {slug}: {audit_entries} audit entries")
    build_chain(org, audit_entries)
    # The vulnerability touching the most devices: the detail page's worst case.
    open_vulns = Vulnerability.objects.filter(organization=org, status="open")
    worst = max(
        open_vulns[:200], key=lambda v: v.affected_products.filter(introduced_version="").count()
    )
    return {"org": org, "auditor": auditor, "vuln": worst}


def build_chain(org, count):
    """Append ``count`` hash-chained entries to the organization's chain (as record_audit would)."""
    from django.utils import timezone

    from encompass.audit.models import AuditChain, AuditEntry

    key = str(org.pk)
    head, _ = AuditChain.objects.get_or_create(key=key)
    prev, seq = head.last_hash, head.last_sequence
    now = timezone.now()
    rows = []
    for i in range(count):
        seq += 1
        entry = AuditEntry(
            chain=key,
            sequence=seq,
            organization=org,
            created_at=now,
            actor_label="bench",
            action="bench.step",
            object_type="devices.Device",
            object_id=str(i),
            object_repr=f"device {i}",
            changes={"state": ["deployed", "maintenance"], "i": i},
            prev_hash=prev,
        )
        entry.entry_hash = entry.compute_hash()
        prev = entry.entry_hash
        rows.append(entry)
        if len(rows) >= BATCH:
            AuditEntry.objects.bulk_create(rows)
            rows = []
    AuditEntry.objects.bulk_create(rows)
    AuditChain.objects.filter(key=key).update(last_sequence=seq, last_hash=prev)


# --- measuring ---------------------------------------------------------------------------------


def in_child(fn):
    """Run ``fn`` in a forked child; returns (its result, the child's peak RSS in MB)."""
    from django.db import connections

    connections.close_all()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            result = fn()
        except BaseException as exc:  # report, never fall back into the parent's code
            result = {"error": repr(exc)}
        with os.fdopen(write, "w") as out:
            json.dump(result, out)
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as inp:
        data = inp.read()
    _pid, _status, usage = os.wait4(pid, 0)
    result = json.loads(data)
    if "error" in result:
        raise SystemExit(f"measurement failed: {result['error']}")
    return result, usage.ru_maxrss / 1024


def page(user, url, runs=3):
    def measure():
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from encompass.testing.web import web

        client = web(user)
        times, count, size = [], 0, 0
        for _ in range(runs + 1):  # the first run warms caches and is not counted
            with CaptureQueriesContext(connection) as ctx:
                started = time.perf_counter()
                response = client.get(url, secure=True)
                elapsed = time.perf_counter() - started
            if response.status_code != 200:
                return {"error": f"{url}: HTTP {response.status_code}"}
            times.append(elapsed)
            count, size = len(ctx.captured_queries), len(response.content)
        return {"time": min(times[1:]), "queries": count, "bytes": size}

    result, rss = in_child(measure)
    return {**result, "rss": rss}


def command(*args, runs=1):
    """``manage.py <args>`` in a subprocess: best wall time of ``runs`` and peak RSS."""
    best, peak = None, 0
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=os.environ.copy(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        _pid, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"manage.py {' '.join(args)} failed: {proc.stderr.read().decode()}")
        best = elapsed if best is None else min(best, elapsed)
        peak = max(peak, usage.ru_maxrss / 1024)
    return {"time": best, "queries": None, "rss": peak}


def in_process(*args):
    """``call_command(*args)`` in a forked child: elapsed time and the child's peak RSS."""

    def measure():
        import io

        from django.core.management import call_command

        started = time.perf_counter()
        call_command(*args, stdout=io.StringIO())
        return {"time": time.perf_counter() - started, "queries": None}

    result, rss = in_child(measure)
    return {**result, "rss": rss}


def surfaces(tenant):
    from django.urls import reverse

    from compliance.models import RequirementResult

    org, user, vuln = tenant["org"], tenant["auditor"], tenant["vuln"]
    result = RequirementResult.objects.filter(
        assessment__organization=org, requirement__ref="5.10-1"
    ).first()
    return [
        ("`run_checks` (in process)", lambda: in_process("run_checks", "--organization", org.slug)),
        (
            "`manage.py run_checks` (subprocess, with start-up)",
            lambda: command("run_checks", "--organization", org.slug),
        ),
        (
            "/compliance/ scorecard (after run_checks)",
            lambda: page(user, reverse("compliance_ui:scorecard")),
        ),
        (
            "requirement page (5.10-1, failing devices page 1)",
            lambda: page(user, reverse("compliance_ui:result", args=[result.pk])),
        ),
        ("vulnerabilities list", lambda: page(user, reverse("risk_ui:vulnerabilities"))),
        (
            "vulnerability detail page",
            lambda: page(user, reverse("risk_ui:vulnerability", args=[vuln.pk])),
        ),
        (
            "API affected-devices (page 1)",
            lambda: page(user, reverse("risk-vulnerability-affected-devices", args=[vuln.pk])),
        ),
        (
            "`audit_verify --full`",
            lambda: command(
                "audit_verify", "--organization", org.slug, "--full", "--no-checkpoint"
            ),
        ),
        ("`audit_verify` since checkpoint (1,000 new)", lambda: incremental_verify(org)),
    ]


def incremental_verify(org):
    from encompass.audit.services import record_audit

    in_process("audit_verify", "--organization", org.slug)  # stores the checkpoint
    for i in range(1000):
        record_audit("bench.after", actor="bench", organization=org, changes={"i": i})
    return in_process("audit_verify", "--organization", org.slug, "--no-checkpoint")


def fmt_time(seconds):
    return f"{seconds * 1000:,.0f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def main():
    bench_url = recreate_database()
    try:
        setup_django(bench_url)
        from compliance.services.loading import load_catalogue

        load_catalogue()
        started = time.perf_counter()
        log("building the small tenant")
        small = build_tenant("small", SMALL, max(20, VULNS // 100), 2000, seed=1)
        log("building the big tenant")
        big = build_tenant("big", BIG, VULNS, AUDIT, seed=2)
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        # As in production, audit_verify has run before (cron): the audit-trail-intact check
        # inside run_checks verifies from its checkpoint.
        for tenant in (small, big):
            in_process("audit_verify", "--organization", tenant["org"].slug)
        log(f"built in {time.perf_counter() - started:,.0f} s; measuring")
        rows = []
        for (name, small_fn), (_n, big_fn) in zip(surfaces(small), surfaces(big), strict=True):
            log(f"  {name}")
            a, b = small_fn(), big_fn()
            rows.append((name, a, b))
        print(
            f"\nSmall tenant: {SMALL:,} devices, {max(20, VULNS // 100):,} vulnerabilities, "
            f"2,000 audit entries; big tenant: {BIG:,} devices, {VULNS:,} vulnerabilities, "
            f"{AUDIT:,} audit entries; {SITES} sites and {TYPES} device types each.\n"
        )
        print(
            "| surface | small: queries | small: time | big: queries | big: time | ratio "
            "| peak RSS small / big |"
        )
        print("|---|---|---|---|---|---|---|")
        for name, a, b in rows:
            q = lambda r: "—" if r["queries"] is None else str(r["queries"])  # noqa: E731
            print(
                f"| {name} | {q(a)} | {fmt_time(a['time'])} | {q(b)} | {fmt_time(b['time'])} "
                f"| {b['time'] / a['time']:.2f}× | {a['rss']:,.0f} / {b['rss']:,.0f} MB |"
            )
        from compliance.checks import all_checks
        from compliance.models import CheckRun

        for tenant in (small, big):
            latest = CheckRun.objects.filter(organization=tenant["org"]).order_by("-pk")[
                : len(all_checks())
            ]
            print(
                f"\n{tenant['org'].slug}: check durations (evaluation, without storing): "
                + ", ".join(
                    f"{r.check_code} {r.duration_ms} ms ({r.failing_count:,} failing)"
                    for r in sorted(latest, key=lambda r: -r.duration_ms)
                )
            )
    finally:
        from django.db import connections

        connections.close_all()
        drop_database()


if __name__ == "__main__":
    main()
