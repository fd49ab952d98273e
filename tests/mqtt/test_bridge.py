"""The bridge: to the websocket, through malformed payloads, broker restarts and its own restart,
with paho as the device as well as Debian's mosquitto_pub."""

import json
import ssl

import paho.mqtt.client as mqtt
import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async

from encompass.events.models import Event
from encompass.tenancy.roles import Role

from ..events.conftest import connect, next_message, subscribe
from .conftest import BridgeThread, mosquitto_pub, wait_for
from .test_ingest_over_mqtt import stored, telemetry

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def paho_device(broker, ident, client_id=None):
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id or ident.device.uid,
        protocol=mqtt.MQTTv5,
    )
    client.tls_set(
        ca_certs=str(broker.folder / "broker-ca.pem"),
        certfile=str(ident.cert_path),
        keyfile=str(ident.key_path),
        tls_version=ssl.PROTOCOL_TLS_CLIENT,
    )
    client.will_set(f"devices/{ident.device.uid}/status", "offline", qos=1)
    client.connect("127.0.0.1", broker.device_port)
    client.loop_start()
    return client


@pytest.mark.asyncio
async def test_published_event_reaches_a_websocket_subscriber(broker, bridge, enroll, mqtt_world):
    ident = await database_sync_to_async(enroll)()
    comm, _ = await connect(mqtt_world.a.user(Role.OPERATOR))
    await subscribe(comm, "device", ident.device.pk)
    done = await sync_to_async(mosquitto_pub)(
        broker, ident, f"devices/{ident.device.uid}/events", json.dumps([telemetry("ws-1", 30.5)])
    )
    assert done.returncode == 0, done.stderr
    got = await next_message(
        comm,
        lambda m: m["type"] == "event" and m["event"]["kind"] == "device.telemetry",
        timeout=10,
    )
    assert got["event"]["event_id"] == "ws-1"
    assert got["event"]["payload"]["metrics"] == {"temp_c": 30.5}
    await comm.disconnect()


def test_malformed_payloads_are_signals_and_never_stop_the_bridge(broker, bridge, enroll):
    ident = enroll()
    topic = f"devices/{ident.device.uid}/events"
    for junk in ("not json", "[]", '{"events": 3}', "\xff"):
        assert mosquitto_pub(broker, ident, topic, junk).returncode == 0
    # A batch with one bad item: the good one is stored, the device is told which was rejected.
    good_and_bad = json.dumps([telemetry("ok-1"), {"id": "bad-1", "kind": "nope"}])
    assert mosquitto_pub(broker, ident, topic, good_and_bad).returncode == 0
    wait_for(lambda: stored(ident.device, "ok-1").exists())
    signals = Event.objects.filter(device=ident.device, kind="security.malformed_message")
    wait_for(lambda: signals.count() == 4)
    assert {e.payload["transport"] for e in signals} == {"mqtt"}
    assert bridge.bridge.stats["malformed"] == 4 and bridge.bridge.stats["rejected"] == 1
    assert bridge.thread.is_alive()


def test_bridge_survives_broker_restarts_and_its_own_restart_without_loss(broker, enroll):
    ident = enroll()
    topic = f"devices/{ident.device.uid}/events"
    first = BridgeThread(client_id="restarting-bridge", batch=50).start()
    device = paho_device(broker, ident)
    device.publish(f"devices/{ident.device.uid}/status", "online", qos=1)
    for n in range(20):
        device.publish(topic, json.dumps(telemetry(f"a-{n}")), qos=1)
    wait_for(lambda: stored(ident.device).count() == 20)
    ident.device.refresh_from_db()
    assert ident.device.health == "online"
    # The broker restarts under the bridge: it reconnects with backoff and carries on.
    broker.restart()
    wait_for(lambda: first.bridge.stats["connects"] >= 2, timeout=40)
    device.loop_stop()
    device = paho_device(broker, ident)
    for n in range(20):
        device.publish(topic, json.dumps(telemetry(f"b-{n}")), qos=1).wait_for_publish(5)
    wait_for(lambda: stored(ident.device).count() == 40)
    # The bridge stops; what is published meanwhile waits in its persistent session -- through
    # another broker restart (persistence) -- and is stored when the bridge is back.
    first.stop()
    for n in range(30):
        assert (
            device.publish(topic, json.dumps(telemetry(f"c-{n}")), qos=1).wait_for_publish(5)
            is None
        )
    device.loop_stop()
    broker.restart()
    second = BridgeThread(client_id="restarting-bridge", batch=50).start()
    try:
        wait_for(lambda: stored(ident.device).count() == 70, timeout=20)
        # The device's last will (an unclean drop): the broker says so, health follows.
        device = paho_device(broker, ident, client_id=f"{ident.device.uid}-2")
        device._sock.close()  # a cut cable: no DISCONNECT, so the broker sends the will
        wait_for(
            lambda: Event.objects.filter(
                device=ident.device, kind="device.connection", payload__status="offline"
            ).exists(),
            timeout=60,
        )
        wait_for(lambda: type(ident.device).objects.get(pk=ident.device.pk).health == "offline")
    finally:
        second.stop()
    assert sorted(stored(ident.device).values_list("event_id", flat=True)) == sorted(
        [f"a-{n}" for n in range(20)]
        + [f"b-{n}" for n in range(20)]
        + [f"c-{n}" for n in range(30)]
    )
