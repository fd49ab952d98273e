"""MQTT bridge throughput: messages/s the bridge (``manage.py mqtt_bridge``, a real process)
commits through the device ingest service, beside a bare paho subscriber that only counts the
same messages from the same broker, in the same run; then no loss across a bridge restart.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/encompass .venv/bin/python bench/mqtt.py

Its own database (``ENCOMPASS_BENCH_DATABASE``, default ``encompass_bench``) and its own
Mosquitto on free ports in a temporary folder, with the files ``mqtt_broker_config`` writes.

1. **Drain.** Both subscribers open persistent sessions (QoS 1) and go away; DEVICES devices
   publish MESSAGES messages (one event each, QoS 1); then the bare subscriber reconnects and
   is timed until it has them all, then the bridge is started and timed until all are stored.
   Goal: bridge rate >= 0.5 x bare rate.
2. **Restart.** Devices publish RESTART_MESSAGES at a steady pace while the bridge is killed
   (SIGKILL, mid-batch) and started again; every published event must be stored exactly once.
"""

import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ROOT, drop_database, free_port, recreate_database, setup_django

DEVICES = int(os.environ.get("BENCH_MQTT_DEVICES", "50"))
MESSAGES = int(os.environ.get("BENCH_MQTT_MESSAGES", "20000"))
RESTART_MESSAGES = int(os.environ.get("BENCH_MQTT_RESTART_MESSAGES", "6000"))
BATCH = int(os.environ.get("BENCH_MQTT_BATCH", "5000"))


def device_client(mqtt, broker, ident):
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=ident["uid"], protocol=5)
    client.tls_set(
        ca_certs=str(broker.folder / "broker-ca.pem"),
        certfile=ident["cert"],
        keyfile=ident["key"],
        tls_version=ssl.PROTOCOL_TLS_CLIENT,
    )
    client.max_inflight_messages_set(200)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", broker.device_port)
    client.loop_start()
    return client


def publish(mqtt, broker, idents, prefix, count, pace=None):
    """Publish ``count`` one-event messages round-robin over the devices; wait for every PUBACK."""
    from django.utils import timezone

    clients = [device_client(mqtt, broker, ident) for ident in idents]
    now = timezone.now().isoformat()
    infos = []
    started = time.monotonic()
    for n in range(count):
        ident = idents[n % len(idents)]
        body = json.dumps(
            {
                "id": f"{prefix}-{n}",
                "kind": "telemetry",
                "occurred_at": now,
                "payload": {"metrics": {"temp_c": 20 + n % 50 / 10}},
            }
        )
        infos.append(clients[n % len(idents)].publish(f"devices/{ident['uid']}/events", body, 1))
        if pace:
            delay = started + n / pace - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    for info in infos:
        info.wait_for_publish(60)
    acked = sum(info.is_published() for info in infos)
    for client in clients:
        client.disconnect()
        client.loop_stop()
    return acked


class BareSubscriber:
    """paho, the same shared topic filter shape, QoS 1, acknowledging on receipt, counting."""

    def __init__(self, mqtt, folder, port):
        from devices.mqtt.client import connect_properties

        self.count = 0
        self.done = threading.Event()
        self.target = None
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id="bench-bare", protocol=5
        )
        self.client.tls_set(
            ca_certs=str(folder / "broker-ca.pem"),
            certfile=str(folder / "bridge.crt"),
            keyfile=str(folder / "bridge.key"),
        )
        self.client.on_connect = lambda c, *a: c.subscribe("$share/bare/devices/+/events", 1)
        self.client.on_message = self._on_message
        self.port = port
        self.props = connect_properties(session_expiry=3600, receive_maximum=min(BATCH * 2, 65535))

    def _on_message(self, client, userdata, message):
        self.count += 1
        if self.target and self.count >= self.target:
            self.done.set()

    def connect(self):
        self.client.connect("127.0.0.1", self.port, clean_start=False, properties=self.props)
        self.client.loop_start()

    def disconnect(self):
        self.client.disconnect()
        self.client.loop_stop()


def bridge_process(env, folder, port, log=None):
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 (the child keeps it)
    return subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "mqtt_bridge",
            "--client-id",
            "bench-bridge",
            "--dir",
            str(folder),
            "--port",
            str(port),
            "--batch",
            str(BATCH),
        ],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.DEVNULL,
    )


def wait_connected(broker, client_id, occurrence=1, timeout=120):
    """Until the broker logs the client's ``occurrence``-th connection (connection_messages)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if broker.log_text().count(f" as {client_id} ") >= occurrence:
            return
        time.sleep(0.1)
    raise SystemExit(f"{client_id} never connected; see {broker.log}")


def stored(cursor, prefix):
    cursor.execute(
        "SELECT count(DISTINCT event_id), count(*) FROM events_event "
        "WHERE kind = 'device.telemetry' AND event_id LIKE %s",
        [f"{prefix}-%"],
    )
    return cursor.fetchone()


def wait_stored(cursor, prefix, target, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        unique, _total = stored(cursor, prefix)
        if unique >= target:
            return time.monotonic()
        time.sleep(0.05)
    return None


def main():
    bench_url = recreate_database()
    broker = bridge = None
    tmp = Path(tempfile.mkdtemp(prefix="encompass-bench-mqtt-"))
    try:
        device_port, service_port = free_port(), free_port()
        os.environ.update(
            {
                "ENCOMPASS_MQTT_DIR": str(tmp / "broker"),
                "ENCOMPASS_MQTT_DEVICE_PORT": str(device_port),
                "ENCOMPASS_MQTT_DEVICE_BIND": "127.0.0.1",
                "ENCOMPASS_MQTT_SERVICE_PORT": str(service_port),
            }
        )
        setup_django(bench_url)
        import paho.mqtt.client as mqtt
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from django.db import connection

        from devices.choices import LifecycleState
        from devices.identity.choices import IssuedVia
        from devices.identity.services import create_certificate_authority, issue_certificate
        from devices.mqtt.broker import write_broker_files
        from encompass.tenancy.roles import Role
        from encompass.testing.factories import make_device, make_member, make_org, make_site
        from encompass.testing.mosquitto import Mosquitto

        org = make_org("Bench", "bench")
        site = make_site(org)
        admin = make_member(org, Role.ADMIN)
        create_certificate_authority(organization=org, actor=admin, name="Bench CA")
        folder = tmp / "broker"
        write_broker_files(
            org, actor=admin, folder=folder, run_as="root" if os.geteuid() == 0 else None
        )
        idents = []
        for _ in range(DEVICES):
            device = make_device(org, site=site, state=LifecycleState.DEPLOYED)
            key = ec.generate_private_key(ec.SECP256R1())
            record = issue_certificate(device, key.public_key(), actor=admin, via=IssuedVia.FACTORY)
            key_path, cert_path = tmp / f"{device.uid}.key", tmp / f"{device.uid}.crt"
            key_path.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            cert_path.write_text(record.certificate_pem)
            idents.append({"uid": device.uid, "key": str(key_path), "cert": str(cert_path)})
        broker = Mosquitto(folder, device_port, service_port).start()
        env = {**os.environ, "DATABASE_URL": bench_url, "LOG_LEVEL": "WARNING", "DEBUG": "0"}
        cursor = connection.cursor()

        # Register both persistent sessions, then let the broker queue for them.
        bare = BareSubscriber(mqtt, folder, service_port)
        bare.connect()
        bridge = bridge_process(env, folder, service_port)
        wait_connected(broker, "bench-bridge")
        time.sleep(1)  # its SUBACK
        bare.disconnect()
        bridge.send_signal(signal.SIGTERM)
        bridge.wait(timeout=30)
        acked = publish(mqtt, broker, idents, "drain", MESSAGES)
        print(f"published {acked} of {MESSAGES} messages (one event each) from {DEVICES} devices")

        bare.target = MESSAGES
        started = time.monotonic()
        bare.connect()
        bare.done.wait(300)
        bare_seconds = time.monotonic() - started
        bare.disconnect()

        bridge = bridge_process(env, folder, service_port, log=tmp / "bridge-drain.log")
        wait_connected(broker, "bench-bridge", occurrence=2)
        started = time.monotonic()
        finished = wait_stored(cursor, "drain", MESSAGES, timeout=600)
        bridge_seconds = (finished or time.monotonic()) - started
        unique, total = stored(cursor, "drain")
        bare_rate = bare.count / bare_seconds
        bridge_rate = unique / bridge_seconds
        print(
            f"bare paho subscriber: {bare.count} messages in {bare_seconds:.2f} s = "
            f"{bare_rate:8.0f} msg/s (counting only)"
        )
        print(
            f"bridge (commit)     : {unique} messages in {bridge_seconds:.2f} s = "
            f"{bridge_rate:8.0f} msg/s (stored once each: {total == unique}; "
            f"timed from its connection)"
        )
        print(f"ratio bridge/bare   : {bridge_rate / bare_rate:8.2f}  (goal >= 0.5)")
        bridge.send_signal(signal.SIGTERM)
        bridge.wait(timeout=60)
        print("bridge " + (tmp / "bridge-drain.log").read_text().strip().splitlines()[-1])
        bridge = bridge_process(env, folder, service_port)
        wait_connected(broker, "bench-bridge", occurrence=3)

        # Restart: publish steadily while the bridge is killed mid-stream and started again.
        outcome = {}

        def steady():
            outcome["acked"] = publish(
                mqtt, broker, idents, "restart", RESTART_MESSAGES, pace=RESTART_MESSAGES / 8
            )

        publisher = threading.Thread(target=steady)
        publisher.start()
        time.sleep(2.5)
        bridge.send_signal(signal.SIGKILL)
        bridge.wait()
        time.sleep(1.5)
        bridge = bridge_process(env, folder, service_port)
        publisher.join()
        finished = wait_stored(cursor, "restart", RESTART_MESSAGES, timeout=300)
        unique, total = stored(cursor, "restart")
        print(
            f"restart: published {outcome['acked']} (broker-acknowledged), stored {unique} "
            f"distinct ({total} rows) after a SIGKILL of the bridge -> "
            f"{'no loss' if unique == outcome['acked'] == total else 'MISMATCH'}"
        )
    finally:
        if bridge is not None and bridge.poll() is None:
            bridge.send_signal(signal.SIGTERM)
            try:
                bridge.wait(timeout=30)
            except subprocess.TimeoutExpired:
                bridge.kill()
        if broker is not None:
            broker.stop()
        from django.db import connections

        connections.close_all()
        drop_database()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
