"""Shared set-up for the benchmarks: a throwaway PostgreSQL database, Django, a web process
(``python -m encompass.server``: daphne with the direct frame writer, as ``make run`` starts it)."""

import os
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from encompass.testing.servers import ServerDidNotStart, WebServer, free_port  # noqa: E402

__all__ = ["WebProcess", "drop_database", "free_port", "recreate_database", "setup_django"]
BENCH_DB = os.environ.get("ENCOMPASS_BENCH_DATABASE", "encompass_bench")


def database_urls():
    base = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/encompass"
    parsed = urlparse(base)
    if not parsed.scheme.startswith("postgres"):
        sys.exit("The benchmarks need PostgreSQL: set DATABASE_URL=postgres://...")
    admin = urlunparse(parsed._replace(path="/postgres"))
    bench = urlunparse(parsed._replace(path=f"/{BENCH_DB}"))
    return admin, bench


def recreate_database():
    import psycopg

    admin, bench = database_urls()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
    return bench


def drop_database():
    import psycopg

    admin, _ = database_urls()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')


def setup_django(bench_url):
    os.environ["DATABASE_URL"] = bench_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "encompass.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DEBUG", "0")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


class WebProcess(WebServer):
    """One web process serving encompass.asgi, started at once, with its RSS sampled while it
    runs. ``server`` is the module run with ``python -m``: ``encompass.server``, or ``daphne`` to
    measure without the direct frame writer."""

    def __init__(self, bench_url, server="encompass.server", **env):
        super().__init__(
            bench_url,
            env={
                "LOG_LEVEL": "WARNING",
                # Measure what production runs: no query log, no debug pages.
                "DEBUG": "0",
                "ENCOMPASS_DEVICE_RATE": "1000000/min",
                "ENCOMPASS_EVENT_TAIL": "0",
                **env,
            },
            module=server,
        )
        self.peak_rss = 0
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        try:
            self.start()
        except ServerDidNotStart as exc:
            raise SystemExit(str(exc)) from None
        self._sampler.start()

    def rss_mb(self):
        try:
            with open(f"/proc/{self.process.pid}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            return 0
        return 0

    def _sample(self):
        while not self._stop.is_set():
            self.peak_rss = max(self.peak_rss, self.rss_mb())
            time.sleep(0.1)

    def stop(self):
        self._stop.set()
        return super().stop()
