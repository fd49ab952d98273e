"""paho-mqtt clients with the platform's service identity (the bridge's certificate)."""

import socket
import ssl

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from .conf import broker_dir, mqtt_settings


def service_tls(client, folder=None):
    folder = folder or broker_dir()
    client.tls_set(
        ca_certs=str(folder / "broker-ca.pem"),
        certfile=str(folder / "bridge.crt"),
        keyfile=str(folder / "bridge.key"),
        cert_reqs=ssl.CERT_REQUIRED,
        tls_version=ssl.PROTOCOL_TLS_CLIENT,
    )


def service_client(client_id, *, manual_ack=False, folder=None):
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=manual_ack,
    )
    service_tls(client, folder)
    return client


def connect_properties(*, session_expiry=0, receive_maximum=None):
    props = Properties(PacketTypes.CONNECT)
    if session_expiry:
        props.SessionExpiryInterval = session_expiry
    if receive_maximum:
        props.ReceiveMaximum = receive_maximum
    return props


def default_client_id(role):
    return f"encompass-{role}-{socket.gethostname()}"[:64]


def endpoint():
    conf = mqtt_settings()
    return conf["HOST"], conf["SERVICE_PORT"]
