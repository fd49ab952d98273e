"""Pushing stored events to websocket groups.

Groups: ``org.<id>``, ``site.<id>``, ``device.<id>``. The message type is ``event.message``;
consumers de-duplicate by event id. A channel-layer failure is logged and swallowed: the event is
already stored, and a client recovers it by replay.
"""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)


def organization_group(org_id):
    return f"org.{org_id}"


def site_group(site_id):
    return f"site.{site_id}"


def device_group(device_pk):
    return f"device.{device_pk}"


def groups_for(data):
    groups = [organization_group(data["organization"])]
    if data.get("site"):
        groups.append(site_group(data["site"]))
    if data.get("device_pk"):
        groups.append(device_group(data["device_pk"]))
    return groups


def serialize_event(event, *, device_uid=None):
    """The JSON shape of an event on the websocket and in the REST API."""
    return {
        "id": event.pk,
        "organization": event.organization_id,
        "site": event.site_id,
        "device_pk": event.device_id,
        "device": device_uid
        if device_uid is not None
        else (event.device.uid if event.device_id and event.device else None),
        "kind": event.kind,
        "source": event.source,
        "severity": event.severity,
        "event_id": event.event_id,
        "occurred_at": event.occurred_at.isoformat() if event.occurred_at else None,
        "received_at": event.received_at.isoformat(),
        "payload": event.payload,
    }


async def apush(messages):
    layer = get_channel_layer()
    if layer is None:
        return
    for data in messages:
        for group in groups_for(data):
            try:
                await layer.group_send(group, {"type": "event.message", "event": data})
            except Exception:  # a push is best effort; replay recovers
                logger.warning(
                    "channel layer push failed for event %s", data.get("id"), exc_info=True
                )
                return


def push(messages):
    """Send already-serialized events to their groups; never raises."""
    if not messages:
        return
    try:
        async_to_sync(apush)(messages)
    except Exception:
        logger.warning(
            "channel layer unavailable; %d event(s) left for replay", len(messages), exc_info=True
        )
