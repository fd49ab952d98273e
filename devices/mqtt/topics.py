"""The topic tree (docs/mqtt.md): everything a device says or hears is under ``devices/<uid>/``.

* ``devices/<uid>/events`` -- device to platform: a batch, exactly as ``POST /api/device/v1/events``
  takes it (a JSON list, or ``{"events": [...]}``), or one event object;
* ``devices/<uid>/status`` -- device to platform: ``online`` / ``offline`` (the device's birth
  message and its MQTT last will), which feeds health;
* ``devices/<uid>/commands`` -- platform to device: update notifications and answers.
"""

import re

PREFIX = "devices"
EVENTS, STATUS, COMMANDS = "events", "status", "commands"
_TOPIC_RE = re.compile(r"^devices/([A-Za-z0-9_.-]{1,64})/(events|status)$")


def events_topic(uid):
    return f"{PREFIX}/{uid}/{EVENTS}"


def status_topic(uid):
    return f"{PREFIX}/{uid}/{STATUS}"


def commands_topic(uid):
    return f"{PREFIX}/{uid}/{COMMANDS}"


def shared(group, topic_filter):
    """An MQTT 5 shared subscription: the broker gives each message to one group member."""
    return f"$share/{group}/{topic_filter}"


def parse(topic):
    """``(uid, leaf)`` of a device-to-platform topic, or ``None``."""
    match = _TOPIC_RE.match(topic)
    return (match.group(1), match.group(2)) if match else None
