"""MQTT settings (``ENCOMPASS["MQTT"]``, from ``ENCOMPASS_MQTT_*`` environment variables)."""

from pathlib import Path

from django.conf import settings

DEFAULTS = {
    # Where mqtt_broker_config writes the broker's files (and the bridge reads its certificate).
    "DIR": None,  # default: <VAR_DIR>/mqtt
    # The broker as the platform reaches it: the service listener (bridge, command publisher).
    "HOST": "127.0.0.1",
    "SERVICE_PORT": 8884,
    # The device listener, and the names devices reach the broker by (server certificate SANs).
    "DEVICE_PORT": 8883,
    "DEVICE_BIND": "0.0.0.0",  # noqa: S104 (devices connect from the network)
    "SERVICE_BIND": "127.0.0.1",
    "SERVER_NAMES": ["localhost", "127.0.0.1"],
    # The bridge's identity (certificate CN, Mosquitto username) and its shared-subscription group.
    "SERVICE_IDENTITY": "svc_encompass-bridge",
    "SHARED_GROUP": "encompass",
    # What tells the broker to re-read its CRL after it is rewritten: an argv list or a string
    # (split with shlex, run without a shell). Empty: SIGHUP to the pid in <DIR>/mosquitto.pid.
    "RELOAD_COMMAND": "",
    # Rewrite the CRL file in this process on every revocation (off where the broker's files are
    # on another machine; there run `mqtt_broker_config --crl-only` from a timer).
    "SYNC_CRL": True,
    # Publish update notifications on device command topics when a rollout wave starts.
    "NOTIFY_ROLLOUTS": False,
    "SERVICE_CERT_DAYS": 90,
    "MAX_QUEUED_MESSAGES": 100000,
}


def mqtt_settings():
    conf = dict(DEFAULTS)
    conf.update(settings.ENCOMPASS.get("MQTT", {}))
    if not conf["DIR"]:
        conf["DIR"] = str(Path(settings.VAR_DIR) / "mqtt")
    return conf


def broker_dir():
    return Path(mqtt_settings()["DIR"])
