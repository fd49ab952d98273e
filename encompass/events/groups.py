"""Who receives an event on the websocket, and in what shape (no transport here).

Groups: ``org.<id>``, ``site.<id>``, ``device.<id>``, and ``user.<id>`` for events about one
user's access (``membership.changed``), so every socket of that user re-checks its
subscriptions. ``Reach`` is what one user may see (the organizations and sites); a socket
delivers an event only when its reach ``sees`` it. ``serialize_event`` is the JSON an event
has on the wire; ``BATCH_MESSAGE`` the channel-layer message type that carries a list of them.
"""

from encompass.tenancy.access import reach_of

from .models import Event

BATCH_MESSAGE = "event.batch"


def organization_group(org_id):
    return f"org.{org_id}"


def site_group(site_id):
    return f"site.{site_id}"


def device_group(device_pk):
    return f"device.{device_pk}"


def user_group(user_pk):
    return f"user.{user_pk}"


def groups_for(data):
    groups = [organization_group(data["organization"])]
    if data.get("site"):
        groups.append(site_group(data["site"]))
    if data.get("device_pk"):
        groups.append(device_group(data["device_pk"]))
    if data.get("kind") == "membership.changed":
        user = (data.get("payload") or {}).get("user")
        if user is not None:
            groups.append(user_group(user))
    return groups


def serialize_event(event):
    """The JSON shape of an event on the websocket. Load the event with its device (as created,
    ``select_related("device")``, or set): the device's uid and name are part of it."""
    device = event.device if event.device_id else None
    return {
        "id": event.pk,
        "organization": event.organization_id,
        "site": event.site_id,
        "device_pk": event.device_id,
        "device": device.uid if device is not None else None,
        "device_name": device.name if device is not None else None,
        "kind": event.kind,
        "source": event.source,
        "severity": event.severity,
        "event_id": event.event_id,
        "occurred_at": event.occurred_at.isoformat() if event.occurred_at else None,
        "received_at": event.received_at.isoformat(),
        "payload": event.payload,
    }


class Reach:
    """The organizations (every row) and sites (their rows) whose events a user may view."""

    def __init__(self, org_ids, site_ids):
        self.org_ids = frozenset(org_ids)
        self.site_ids = frozenset(site_ids)
        self._hash = hash((self.org_ids, self.site_ids))

    def __eq__(self, other):
        return (
            isinstance(other, Reach)
            and self.org_ids == other.org_ids
            and self.site_ids == other.site_ids
        )

    def __hash__(self):
        return self._hash

    @classmethod
    def of(cls, user):
        return cls(*reach_of(user, Event, "view"))

    def sees(self, data):
        return data["organization"] in self.org_ids or (
            data.get("site") is not None and data["site"] in self.site_ids
        )
