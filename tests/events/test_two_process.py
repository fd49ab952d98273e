"""Two daphne processes, one Redis: an event stored through process 1 reaches a socket on 2.
The same servers then take the fleet simulator's traffic over real HTTP.

Process 1 is plain daphne; process 2 is ``python -m encompass.server`` (daphne with the direct
frame writer), so the socket's frames are the ones the hub writes itself."""

import asyncio
import contextlib
import json

import httpx
import pytest
import websockets
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from devices.choices import LifecycleState
from devices.services import rotate_device_token
from encompass.events.models import Event
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device
from encompass.testing.servers import WebServer, database_url

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def web_processes(tmp_path):
    if not settings.REDIS_URL or connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL and REDIS_URL")
    env = {
        "ENCOMPASS_EVENT_TAIL": "0",
        "LOG_LEVEL": "WARNING",
        "ENCOMPASS_DEVICE_RATE": "100000/min",
    }
    with contextlib.ExitStack() as stack:
        servers = [
            stack.enter_context(
                WebServer(database_url(connection.settings_dict), tmp_path / f"{module}.log",
                          env=env, module=module)
            )
            for module in ("daphne", "encompass.server")
        ]  # fmt: skip
        yield [server.port for server in servers]


def test_event_through_process_one_reaches_socket_on_process_two(world, web_processes):
    p1, p2 = web_processes
    device = make_device(world.a.org, site=world.a.sites[0], state=LifecycleState.DEPLOYED)
    device, token = rotate_device_token(device, actor=world.a.user(Role.ADMIN))
    client = Client()
    client.force_login(world.a.user(Role.OPERATOR))
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"

    async def scenario():
        async with websockets.connect(
            f"ws://127.0.0.1:{p2}/ws/events/",
            additional_headers={"Cookie": cookie, "Origin": f"http://127.0.0.1:{p2}"},
        ) as ws:
            await ws.send(
                json.dumps({"type": "subscribe", "scope": "device", "id": device.pk, "since": None})
            )
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "subscribed"
            async with httpx.AsyncClient() as http:
                response = await http.post(
                    f"http://127.0.0.1:{p1}/api/device/v1/events",
                    json=[
                        {
                            "id": "two-proc-1",
                            "kind": "telemetry",
                            "occurred_at": timezone.now().isoformat(),
                            "payload": {"metrics": {"temp_c": 22.5}},
                        }
                    ],
                    headers={"Authorization": f"Device {token}"},
                )
            assert response.status_code == 200 and response.json()["accepted"] == 1
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if message["type"] == "event" and message["event"]["kind"] == "device.telemetry":
                    return message["event"]

    event = asyncio.run(scenario())
    assert event["event_id"] == "two-proc-1" and event["payload"]["metrics"]["temp_c"] == 22.5

    # The fleet simulator speaks the same API to process 1 with real tokens.
    call_command(
        "simulate_fleet",
        devices=3,
        rate=2,
        duration=4,
        flush=0.5,
        url=f"http://127.0.0.1:{p1}",
        organization=world.a.org.slug,
        seed=1,
    )
    reported = Event.objects.filter(
        organization=world.a.org, source="device", kind="device.telemetry"
    )
    assert reported.exclude(event_id="two-proc-1").values("device").distinct().count() == 3
    assert Event.objects.filter(organization=world.a.org, kind="device.heartbeat").exists()
