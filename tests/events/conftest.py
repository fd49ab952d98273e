import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from encompass.asgi import application

ORIGIN = (b"origin", b"http://testserver")


def session_cookie(user):
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


async def connect(user=None, *, origin=ORIGIN, app=application, path="/ws/events/"):
    headers = [origin] if origin else []
    if user is not None:
        cookie = await database_sync_to_async(session_cookie)(user)
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    comm = WebsocketCommunicator(app, path, headers=headers)
    connected, _ = await comm.connect(timeout=5)
    return comm, connected


async def subscribe(comm, scope, pk, since=None):
    await comm.send_to(
        text_data=json.dumps({"type": "subscribe", "scope": scope, "id": pk, "since": since})
    )
    return await next_message(comm, lambda m: m["type"] in ("subscribed", "error"))


async def next_message(comm, predicate=lambda m: True, timeout=5):
    """The next message matching ``predicate`` (others are skipped)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError("no matching websocket message in time")
        message = json.loads(await comm.receive_from(timeout=remaining))
        if predicate(message):
            return message


async def drain(comm, wait=0.3):
    """Every message that arrives until ``wait`` seconds pass quietly (the socket stays open)."""
    messages = []
    while not await comm.receive_nothing(timeout=wait, interval=0.02):
        messages.append(json.loads(await comm.receive_from()))
    return messages


def fake_event(event_id, org_id, kind="test.fake"):
    """An event as the channel layer carries it (``serialize_event``'s shape), stored nowhere."""
    return {
        "id": event_id,
        "organization": org_id,
        "site": None,
        "device_pk": None,
        "device": None,
        "kind": kind,
        "source": "platform",
        "severity": "info",
        "event_id": None,
        "occurred_at": None,
        "received_at": "2026-11-27T00:00:00+00:00",
        "payload": {},
    }


@pytest.fixture(autouse=True)
def _no_tailer(settings):
    settings.EVENT_TAIL_ENABLED = False
