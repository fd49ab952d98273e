"""Who the broker refuses, with its generated configuration: no certificate, a CA it does not
trust, an expired certificate, a revoked one (after the CRL reload), and another device's topics."""

import datetime
import json
import subprocess
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.utils import timezone

from devices.identity import pki
from devices.identity.choices import RevocationReason
from devices.identity.services import revoke_certificate, signing_key
from devices.mqtt.client import connect_properties
from encompass.events.models import Event
from encompass.tenancy.roles import Role

from .conftest import SUB, Identity, mosquitto_pub, wait_for
from .test_ingest_over_mqtt import stored, telemetry

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def refused(done):
    """mosquitto_pub could not connect (TLS handshake or CONNACK refused)."""
    return done.returncode != 0 and "Publish 1 failed" not in done.stderr


def _self_signed_device_cert(folder, device):
    """A certificate for the device's id from a CA the platform never heard of."""
    now = timezone.now()
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = pki.build_root_certificate(
        ca_key, pki.ca_name("Rogue CA", "Rogue"), now=now, validity_days=30
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = pki.build_device_certificate(
        ca_certificate=ca,
        ca_key=ca_key,
        public_key=key.public_key(),
        device_uid=device.uid,
        organization_name="Rogue",
        not_after=now + datetime.timedelta(days=10),
        now=now,
        crl_url="http://rogue.invalid/crl",
    )
    return _files(folder, device, key, pki.to_pem(cert), "rogue")


def _files(folder, device, key, cert_pem, tag):
    class Record:
        certificate_pem = cert_pem

    ident = Identity(folder, device, key, Record)
    ident.key_path = ident.key_path.rename(ident.key_path.with_suffix(f".{tag}.key"))
    ident.cert_path = ident.cert_path.rename(ident.cert_path.with_suffix(f".{tag}.crt"))
    return ident


def _expired_cert(folder, ident):
    """Signed by the device's own organization CA, but its validity ended yesterday."""
    device = ident.device
    authority = ident.record.authority
    past = timezone.now() - datetime.timedelta(days=30)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = pki.build_device_certificate(
        ca_certificate=authority.certificate(),
        ca_key=signing_key(authority),
        public_key=key.public_key(),
        device_uid=device.uid,
        organization_name=device.organization.name,
        not_after=timezone.now() - datetime.timedelta(days=1),
        now=past,
        crl_url="http://127.0.0.1/crl",
    )
    return _files(folder, device, key, pki.to_pem(cert), "expired")


def test_refused_without_certificate_foreign_ca_or_expired(broker, bridge, enroll, tmp_path):
    ident = enroll()
    topic = f"devices/{ident.device.uid}/events"
    body = json.dumps(telemetry("r-1"))
    # No client certificate at all: the handshake fails (require_certificate true).
    assert refused(mosquitto_pub(broker, ident, topic, body, cert=False))
    # A CA the broker does not trust, naming this very device.
    assert refused(
        mosquitto_pub(broker, _self_signed_device_cert(tmp_path, ident.device), topic, body)
    )
    # The organization's own CA, but expired.
    assert refused(mosquitto_pub(broker, _expired_cert(tmp_path, ident), topic, body))
    # Anonymous MQTT without TLS on the device port: no.
    plain = subprocess.run(
        [
            "mosquitto_pub",
            "-h",
            "127.0.0.1",
            "-p",
            str(broker.device_port),
            "-t",
            topic,
            "-m",
            body,
        ],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert plain.returncode != 0
    # The service listener trusts only the operator organization's CA (here A's, so the handshake
    # succeeds) and its ACL grants nothing but the bridge's identity.
    svc = mosquitto_pub(broker, ident, topic, body, extra=["-p", str(broker.service_port)])
    assert "Not authorized" in svc.stderr
    time.sleep(0.5)
    assert not stored(ident.device).exists()
    # And the real certificate works.
    assert mosquitto_pub(broker, ident, topic, body).returncode == 0
    wait_for(lambda: stored(ident.device, "r-1").exists())


def test_a_device_cannot_use_another_devices_topics(broker, bridge, enroll):
    mine, other, foreign = enroll(), enroll(), enroll("b")
    body = json.dumps(telemetry("x-1"))
    for intruder in (mine, foreign):  # same organization, and another organization's device
        done = mosquitto_pub(broker, intruder, f"devices/{other.device.uid}/events", body)
        assert "Not authorized" in done.stderr, done.stderr
    # Nor may a device write its own command topic, or anything outside devices/<id>/.
    assert (
        "Not authorized"
        in mosquitto_pub(broker, mine, f"devices/{mine.device.uid}/commands", body).stderr
    )
    assert (
        "Not authorized"
        in mosquitto_pub(broker, mine, "devices/+/events".replace("+", "x"), body).stderr
    )
    # Reading another device's commands gets nothing: subscribe as `mine`, publish to `other`.
    sub = subprocess.Popen(
        [
            SUB,
            "-h",
            "127.0.0.1",
            "-p",
            str(broker.device_port),
            "--cafile",
            str(broker.folder / "broker-ca.pem"),
            "--cert",
            str(mine.cert_path),
            "--key",
            str(mine.key_path),
            "-V",
            "mqttv5",
            "-t",
            f"devices/{other.device.uid}/commands",
            "-t",
            f"devices/{mine.device.uid}/commands",
            "-W",
            "4",
            "-v",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)
    from devices.mqtt.commands import publish_commands

    assert (
        publish_commands(
            [(other.device.uid, {"type": "secret"}), (mine.device.uid, {"type": "mine"})]
        )
        == 2
    )
    out, _err = sub.communicate(timeout=10)
    assert f"devices/{mine.device.uid}/commands" in out and '"mine"' in out
    assert "secret" not in out
    time.sleep(0.3)
    assert not Event.objects.filter(event_id="x-1").exists()


def test_revoked_device_is_refused_after_the_crl_reload(broker, bridge, enroll, mqtt_world):
    import paho.mqtt.client as mqtt

    ident = enroll()
    topic = f"devices/{ident.device.uid}/events"
    assert mosquitto_pub(broker, ident, topic, json.dumps(telemetry("v-1"))).returncode == 0
    wait_for(lambda: stored(ident.device, "v-1").exists())
    # A session opened before the revocation (Mosquitto keeps it: CRLs apply at handshakes).
    early = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="early", protocol=mqtt.MQTTv5)
    early.tls_set(
        ca_certs=str(broker.folder / "broker-ca.pem"),
        certfile=str(ident.cert_path),
        keyfile=str(ident.key_path),
    )
    early.connect("127.0.0.1", broker.device_port, properties=connect_properties())
    early.loop_start()
    before = broker.folder.joinpath("crl.pem").stat().st_mtime_ns
    started = time.monotonic()
    revoke_certificate(
        ident.record,
        actor=mqtt_world.a.user(Role.SECURITY_OFFICER),
        reason_code=RevocationReason.KEY_COMPROMISE,
    )
    # The on-commit hook rewrote crl.pem and sent SIGHUP; the next handshake is refused.
    assert broker.folder.joinpath("crl.pem").stat().st_mtime_ns != before

    def refused_now():
        return refused(mosquitto_pub(broker, ident, topic, json.dumps(telemetry("v-2"))))

    wait_for(refused_now, timeout=10, interval=0.1)
    latency = time.monotonic() - started
    print(f"revocation to refused handshake: {latency:.2f} s")
    assert latency < 10
    # What the early session still sends is not accepted, and says why.
    early.publish(topic, json.dumps(telemetry("v-3")), qos=1).wait_for_publish(5)
    wait_for(
        lambda: Event.objects.filter(
            device=ident.device, kind="security.auth_failure", payload__method="mqtt-certificate"
        ).exists()
    )
    early.disconnect()
    early.loop_stop()
    assert not stored(ident.device).filter(event_id__in=["v-2", "v-3"]).exists()
