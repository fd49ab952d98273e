"""Web processes killed with SIGKILL, and PostgreSQL restarted, under device load: every event a
device sent is stored once, none twice, whatever was acknowledged is stored."""

import contextlib
import signal

import pytest
from django.db import connection

from devices.choices import LifecycleState
from devices.services import rotate_device_token
from encompass.events.models import Event
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device
from encompass.testing.servers import WebServer, database_url

from .conftest import report, scale
from .load import DeviceClient

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.faults, pytest.mark.slow]

ENV = {"ENCOMPASS_EVENT_TAIL": "0", "LOG_LEVEL": "WARNING", "ENCOMPASS_DEVICE_RATE": "100000/min"}


def _devices(world, n):
    tokens = []
    for _ in range(n):
        device = make_device(world.a.org, site=world.a.sites[0], state=LifecycleState.DEPLOYED)
        device, token = rotate_device_token(device, actor=world.a.user(Role.ADMIN))
        tokens.append((device, token))
    return tokens


def _stored(devices):
    rows = Event.objects.filter(
        device__in=[d for d, _ in devices], kind="device.telemetry"
    ).values_list("event_id", flat=True)
    rows = list(rows)
    return set(rows), len(rows) - len(set(rows))


def _check(scenario, clients, devices):
    sent = set().union(*(c.sent for c in clients))
    acked = set().union(*(c.acknowledged for c in clients))
    stored, duplicates = _stored(devices)
    report(
        scenario,
        sent=len(sent),
        acknowledged=len(acked),
        stored=len(stored),
        duplicates=duplicates,
        retries=sum(c.retries for c in clients),
    )
    assert not [e for c in clients for e in c.errors]
    assert acked == sent, f"{len(sent - acked)} never acknowledged"
    assert stored == sent, f"{len(sent - stored)} lost"
    assert duplicates == 0


def test_web_process_killed_mid_load(world, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    devices = _devices(world, scale(3, 10))
    url = database_url(connection.settings_dict)
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(WebServer(url, tmp_path / "w1.log", env=ENV))
        second = stack.enter_context(WebServer(url, tmp_path / "w2.log", env=ENV))
        clients = [
            DeviceClient(
                [first.url, second.url], token, name=f"d{i}", batches=scale(20, 100), size=50
            )
            for i, (_, token) in enumerate(devices)
        ]
        for c in clients:
            c.start()
        import time

        time.sleep(1.5)
        first.process.send_signal(signal.SIGKILL)  # mid-batch, no goodbye
        first.process.wait(10)
        time.sleep(1.0)
        first.start()  # back on its port; clients go round-robin again
        for c in clients:
            c.join(180)
    _check("web-process-sigkill", clients, devices)


@pytest.mark.fault_full
def test_postgresql_restart_mid_load(world, tmp_path):
    """The suite's own PostgreSQL, migrated, under a web process; stopped (immediate) and started
    again while devices post."""
    import subprocess
    import sys
    import time

    from encompass.testing.servers import ROOT

    from .procs import PostgresProcess

    pg = PostgresProcess().start()
    try:
        subprocess.run(
            [*pg_env_psql(pg), "-c", "CREATE DATABASE faults"], check=True, capture_output=True
        )
        env = {**ENV, "DATABASE_URL": pg.url("faults")}
        import os

        child = {**os.environ, **env}
        child.pop("TEST_DATABASE_NAME", None)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=ROOT,
            env=child,
            check=True,
            capture_output=True,
        )
        token = subprocess.run(
            [sys.executable, "-c", _SEED],
            cwd=ROOT,
            env={**child, "DJANGO_SETTINGS_MODULE": "encompass.settings"},
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()[-1]
        with WebServer(pg.url("faults"), tmp_path / "web.log", env=ENV) as web:
            client = DeviceClient([web.url], token, name="pg", batches=scale(40, 200), size=50)
            client.start()
            time.sleep(1.0)
            pg.stop("immediate")
            time.sleep(3.0)
            pg.start()
            client.join(180)
        stored = subprocess.run(
            [*pg_env_psql(pg, "faults"), "-tAc", _COUNT], check=True, capture_output=True, text=True
        ).stdout.split("|")
        unique, total = int(stored[0]), int(stored[1])
        report(
            "postgresql-restart",
            sent=len(client.sent),
            acknowledged=len(client.acknowledged),
            stored=unique,
            duplicates=total - unique,
            retries=client.retries,
        )
        assert not client.errors
        assert client.acknowledged == client.sent
        assert unique == len(client.sent) and total == unique
    finally:
        pg.close()


def pg_env_psql(pg, db="postgres"):
    return ["psql", pg.url(db)]


_COUNT = (
    "SELECT count(DISTINCT event_id), count(*) FROM events_event WHERE kind = 'device.telemetry'"
)

_SEED = """
import django; django.setup()
from devices.choices import LifecycleState
from devices.services import rotate_device_token
from encompass.tenancy.roles import Role
from encompass.testing.world import build_world
from encompass.testing.factories import make_device
world = build_world()
device = make_device(world.a.org, site=world.a.sites[0], state=LifecycleState.DEPLOYED)
device, token = rotate_device_token(device, actor=world.a.user(Role.ADMIN))
print(token)
"""
