"""A real Mosquitto per test, on free ports in a temporary folder, with the files
``mqtt_broker_config`` generates; devices with certificates the platform issued; the bridge in a
thread. Never the machine's broker on 1883."""

import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.db import connection

from devices.choices import LifecycleState
from devices.identity import services as identity
from devices.identity.choices import IssuedVia
from devices.mqtt.bridge import Bridge
from devices.mqtt.broker import write_broker_files
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device
from encompass.testing.mosquitto import Mosquitto

PUB = shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub"
SUB = shutil.which("mosquitto_sub") or "/usr/bin/mosquitto_sub"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=10.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


Broker = Mosquitto


class Identity:
    """A device's key and certificate as files (what a device keeps), issued by the platform."""

    def __init__(self, folder, device, key, record):
        self.device = device
        self.record = record
        self.key_path = Path(folder) / f"{device.uid}.key"
        self.cert_path = Path(folder) / f"{device.uid}.crt"
        self.key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        self.cert_path.write_text(record.certificate_pem)


@pytest.fixture
def mqtt_world(world):
    admin_a = world.a.user(Role.ADMIN)
    identity.create_certificate_authority(organization=world.a.org, actor=admin_a, name="A devices")
    identity.create_certificate_authority(
        organization=world.b.org, actor=world.b.user(Role.ADMIN), name="B devices"
    )
    return world


@pytest.fixture
def broker(mqtt_world, tmp_path, settings):
    folder = tmp_path / "broker"
    device_port, service_port = free_port(), free_port()
    settings.ENCOMPASS = {
        **settings.ENCOMPASS,
        "MQTT": {
            "DIR": str(folder),
            "HOST": "127.0.0.1",
            "DEVICE_PORT": device_port,
            "DEVICE_BIND": "127.0.0.1",
            "SERVICE_PORT": service_port,
            "SERVER_NAMES": ["localhost", "127.0.0.1"],
        },
    }
    write_broker_files(
        mqtt_world.a.org,
        actor=mqtt_world.a.user(Role.ADMIN),
        folder=folder,
        run_as="root" if os.geteuid() == 0 else None,
    )
    process = Broker(folder, device_port, service_port)
    process.start()
    yield process
    process.stop()


@pytest.fixture
def enroll(mqtt_world, tmp_path):
    """``enroll(tenant="a", state=DEPLOYED)`` -> ``Identity`` of a new device with a certificate."""
    folder = tmp_path / "devices"
    folder.mkdir()

    def make(tenant="a", state=LifecycleState.DEPLOYED, validity_days=None, **fields):
        t = getattr(mqtt_world, tenant)
        device = make_device(t.org, site=t.sites[0], state=state, **fields)
        key = ec.generate_private_key(ec.SECP256R1())
        record = identity.issue_certificate(
            device,
            key.public_key(),
            actor=t.user(Role.ADMIN),
            via=IssuedVia.FACTORY,
            validity_days=validity_days,
        )
        return Identity(folder, device, key, record)

    return make


def mosquitto_pub(broker, ident, topic, message, *, cert=True, version="mqttv5", extra=()):
    """Debian's mosquitto_pub as the device (its key and certificate), QoS 1."""
    argv = [
        PUB,
        "-h",
        "127.0.0.1",
        "-p",
        str(broker.device_port),
        "--cafile",
        str(broker.folder / "broker-ca.pem"),
        "-V",
        version,
        "-q",
        "1",
        "-t",
        topic,
        "-m",
        message,
        "-i",
        f"pub-{time.monotonic_ns()}",
    ]
    if cert:
        argv += ["--cert", str(ident.cert_path), "--key", str(ident.key_path)]
    return subprocess.run([*argv, *extra], capture_output=True, text=True, timeout=20)


class BridgeThread:
    def __init__(self, **kwargs):
        self.bridge = Bridge(**kwargs)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.error = None

    def _run(self):
        try:
            self.bridge.run()
        except BaseException as exc:  # surfaced by the test
            self.error = exc
        finally:
            connection.close()

    def start(self):
        self.thread.start()
        wait_for(self.bridge.connected.is_set, timeout=15)
        time.sleep(0.2)  # the SUBACK
        return self

    def stop(self):
        self.bridge._stop.set()
        self.thread.join(timeout=15)
        assert not self.thread.is_alive(), "the bridge did not stop"
        assert self.error is None, self.error


@pytest.fixture
def bridge(broker):
    running = BridgeThread(client_id="test-bridge", batch=200)
    running.start()
    yield running
    running.stop()
