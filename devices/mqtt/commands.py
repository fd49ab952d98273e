"""Platform to device: messages on ``devices/<uid>/commands`` (docs/mqtt.md).

``publish_commands`` connects with the service identity, publishes each message with QoS 1 and
waits for the broker's acknowledgement. A command is a hint: a device that misses it (offline,
no persistent session) still finds its manifest at its next poll of ``/api/device/v1/update``,
so a failed publish is logged and never fails the caller (it runs after the commit).

Rollouts: when a wave starts (``start_wave`` saves the wave as running), every device of the
wave is told ``{"type": "update_available", ...}`` once the transaction commits, when
``ENCOMPASS["MQTT"]["NOTIFY_ROLLOUTS"]`` is on.
"""

import json
import logging
import os

from django.db import transaction

from .client import default_client_id, endpoint, service_client
from .conf import mqtt_settings
from .topics import commands_topic

logger = logging.getLogger(__name__)
MANIFEST_PATH = "/api/device/v1/update"


def publish_commands(messages, *, timeout=10.0, folder=None):
    """``messages``: ``[(uid, dict)]``. Answer how many the broker acknowledged."""
    if not messages:
        return 0
    host, port = endpoint()
    client = service_client(f"{default_client_id('publisher')}-{os.getpid()}"[:64], folder=folder)
    try:
        client.connect(host, port, keepalive=30)
    except (OSError, ValueError) as exc:
        logger.warning("MQTT commands not sent (%d): broker unreachable: %s", len(messages), exc)
        return 0
    client.loop_start()
    acknowledged = 0
    try:
        infos = [
            client.publish(commands_topic(uid), json.dumps(body, separators=(",", ":")), qos=1)
            for uid, body in messages
        ]
        for info in infos:
            info.wait_for_publish(timeout=timeout)
            acknowledged += info.is_published()
    except (RuntimeError, ValueError) as exc:
        logger.warning("MQTT commands: %s", exc)
    finally:
        client.disconnect()
        client.loop_stop()
    if acknowledged < len(messages):
        logger.warning("MQTT commands: %d of %d acknowledged", acknowledged, len(messages))
    return acknowledged


def wave_notifications(wave_id):
    from devices.firmware.choices import UpdateStatus
    from devices.firmware.models import DeviceUpdate

    updates = (
        DeviceUpdate.objects.filter(wave_id=wave_id, status=UpdateStatus.PENDING)
        .select_related("device", "release")
        .order_by("pk")
    )
    return [
        (
            update.device.uid,
            {
                "type": "update_available",
                "rollout": update.rollout_id,
                "version": update.release.version,
                "not_before": update.not_before.isoformat() if update.not_before else None,
                "manifest": MANIFEST_PATH,
            },
        )
        for update in updates
    ]


def notify_wave(wave_id):
    return publish_commands(wave_notifications(wave_id))


def on_wave_saved(sender, instance, update_fields=None, **kwargs):
    from devices.firmware.choices import WaveStatus

    if not mqtt_settings()["NOTIFY_ROLLOUTS"]:
        return
    if instance.status == WaveStatus.RUNNING and update_fields and "started_at" in update_fields:
        wave_id = instance.pk
        transaction.on_commit(lambda: notify_wave(wave_id))
