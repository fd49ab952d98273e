"""What the bridge does with the messages the broker delivered: the device API's ingest, as is.

A bridge batch (up to a few thousand messages from many devices) is handled in **one database
transaction**; the events of all its devices are stored by one ``ingest_many`` call (a bounded
number of statements, not a dozen per device):

* the topic names the device (``devices/<uid>/events``; the broker's ACL already made sure the
  publisher's certificate CN is that uid);
* the device must exist, hold a valid certificate (the broker refuses a revoked certificate at the
  next connection; this refuses what a connection opened before the revocation still sends --
  ``security.auth_failure``, as the HTTP API does) and be in service (else ``refuse_device``: the
  same ``security.refused_device`` event and ``device.refused`` alert as the HTTP API's 403);
* the payload is parsed with the device API's ``parse_body`` (same limits; one event object is
  taken as a batch of one) and stored by ``ingest_many`` (the same validation, idempotency by
  event id, listeners, rules and publish on commit as ``ingest_events``; if it fails, each device
  is retried alone so one device's trouble leaves the others' data stored);
* an unusable payload (not JSON, not a batch, too large) is counted and recorded as a
  ``security.malformed_message`` event on the device; it is acknowledged (resending it cannot help);
* ``devices/<uid>/status`` (``online`` / ``offline``: birth message and last will) feeds health.

Acknowledgements happen only after the commit (the bridge calls ``acknowledge`` then), so a crash
between delivery and commit makes the broker deliver again; event ids make that harmless.
"""

import json
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from devices.choices import ACTIVE_STATES, Health
from devices.identity.models import DeviceCertificate
from devices.models import Device
from devices.monitoring.health import mark_seen
from devices.monitoring.ingest import (
    BatchRefused,
    ingest_events,
    ingest_many,
    limits,
    parse_body,
    refuse_device,
)
from encompass.events.choices import Severity
from encompass.events.services import record_event

from .topics import EVENTS, STATUS, parse

logger = logging.getLogger(__name__)
METHOD = "mqtt-certificate"


@dataclass
class Delivered:
    """One message as the bridge received it (``token`` is what acknowledges it)."""

    topic: str
    payload: bytes
    token: object = None


@dataclass
class BatchOutcome:
    counts: Counter = field(default_factory=Counter)
    rejected_items: dict = field(default_factory=dict)  # uid -> [rejected results]


def _items(payload):
    if len(payload) > limits()["max_bytes"]:
        raise BatchRefused(413, f"The message is larger than {limits()['max_bytes']} bytes.")
    stripped = payload.lstrip()
    if stripped[:1] == b"{":
        try:
            data = json.loads(payload)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BatchRefused(400, f"The message is not valid JSON: {exc}.") from exc
        if isinstance(data, dict) and set(data) != {"events"}:
            return [data]  # one event
    return parse_body(payload)


@transaction.atomic
def _malformed(device, topic, payload, detail, outcome):
    outcome.counts["malformed"] += 1
    logger.warning("malformed MQTT message on %s (%d bytes): %s", topic, len(payload), detail)
    record_event(
        "security.malformed_message",
        organization=device.organization,
        device=device,
        severity=Severity.WARNING,
        payload={"transport": "mqtt", "topic": topic, "bytes": len(payload), "detail": detail},
    )


@transaction.atomic
def _status(device, text, now, outcome):
    status = text.strip().lower()
    if status.startswith("{"):
        try:
            status = str(json.loads(status).get("status", "")).lower()
        except (ValueError, AttributeError):
            status = ""
    if status not in ("online", "offline"):
        return False
    record_event(
        "device.connection",
        organization=device.organization,
        device=device,
        payload={"status": status, "transport": "mqtt"},
    )
    if status == "online":
        mark_seen(device, now)
    elif device.health != Health.OFFLINE:
        Device.objects.filter(pk=device.pk).update(health=Health.OFFLINE)
        record_event(
            "device.health_changed",
            organization=device.organization,
            device=device,
            severity=Severity.WARNING,
            payload={
                "from": device.health,
                "to": Health.OFFLINE,
                "last_seen_at": device.last_seen_at.isoformat() if device.last_seen_at else None,
                "reason": "mqtt connection lost (last will)",
            },
        )
        device.health = Health.OFFLINE
    outcome.counts["status"] += 1
    return True


def _admit(device, messages, has_certificate, outcome):
    """False (and the refusal recorded) when this device's messages may not be stored."""
    if not has_certificate:
        outcome.counts["refused"] += len(messages)
        record_event(  # one statement: atomic by itself
            "security.auth_failure",
            organization=device.organization,
            device=device,
            severity=Severity.WARNING,
            payload={
                "method": METHOD,
                "reason": "no valid certificate (revoked or expired) on a connection opened "
                "before; its messages are not accepted.",
                "messages": len(messages),
            },
        )
        return False
    if device.state not in ACTIVE_STATES:
        outcome.counts["refused"] += len(messages)
        refuse_device(device, method=METHOD)  # atomic
        return False
    return True


def _steps(device, messages, outcome):
    """The device's messages as steps in order: ``("items", [...])`` (at most ``max_batch``
    items each) and ``("status", message)``; unusable payloads are recorded on the way."""
    max_batch = limits()["max_batch"]
    steps, items = [], []

    def flush():
        for start in range(0, len(items), max_batch):
            steps.append(("items", items[start : start + max_batch]))

    for message in messages:  # in order: a status (the last will) after the events before it
        _uid, leaf = parse(message.topic)
        if leaf == STATUS:
            flush()
            items = []
            steps.append(("status", message))
            continue
        try:
            items.extend(_items(message.payload))
        except BatchRefused as refused:
            _malformed(device, message.topic, message.payload, refused.detail, outcome)
            continue
        outcome.counts["messages"] += 1
    flush()
    return steps


def _run_status(device, message, now, outcome):
    try:
        ok = _status(device, message.payload.decode("utf-8"), now, outcome)
    except UnicodeDecodeError:
        ok = False
    if not ok:
        _malformed(device, message.topic, message.payload, "status: online or offline", outcome)


def _count(device, result, outcome):
    outcome.counts["accepted"] += result.accepted
    outcome.counts["duplicates"] += result.duplicates
    outcome.counts["rejected"] += result.rejected
    if result.rejected:
        outcome.rejected_items.setdefault(device.uid, []).extend(
            r for r in result.results if r["status"] == "rejected"
        )


def _guarded(device, outcome, failed, func, *args):
    """Run one device's step; a failure (not the device's fault: its input is validated) keeps
    the others' data and lets this device's messages come back (they are not acknowledged)."""
    try:
        func(*args)
    except Exception:
        logger.exception("MQTT ingest failed for device %s", device.uid)
        failed.add(device.pk)
        outcome.rejected_items.pop(device.uid, None)


def _ingest_round(batch, now, outcome, failed):
    """One ``ingest_many`` for every device's next run of items; per device if that fails."""
    try:
        results = ingest_many(batch, now=now)  # a savepoint of its own
    except Exception:
        logger.exception("MQTT ingest of %d devices failed; one device at a time", len(batch))
        for device, items in batch:
            _guarded(
                device,
                outcome,
                failed,
                lambda d=device, i=items: _count(d, ingest_events(d, i, now=now), outcome),
            )
        return
    for device, _unused in batch:
        _count(device, results[device.pk], outcome)


def handle_batch(messages):
    """Store a batch of delivered messages in one transaction; answer a ``BatchOutcome``.

    Raises only when the transaction itself fails (database down): then nothing was stored and
    nothing may be acknowledged.
    """
    outcome = BatchOutcome()
    now = timezone.now()
    by_uid = defaultdict(list)
    for message in messages:
        parsed = parse(message.topic)
        if parsed is None or parsed[1] not in (EVENTS, STATUS):
            outcome.counts["unknown_topic"] += 1
            logger.warning("MQTT message on unexpected topic %r ignored", message.topic)
            continue
        by_uid[parsed[0]].append(message)
    if not by_uid:
        return outcome
    devices = Device.objects.select_related("organization", "site", "device_type").in_bulk(
        list(by_uid), field_name="uid"
    )
    certified = set(
        DeviceCertificate.objects.filter(
            device_id__in=[d.pk for d in devices.values()],
            revoked_at__isnull=True,
            not_before__lte=now,
            not_after__gt=now,
        ).values_list("device_id", flat=True)
    )
    with transaction.atomic():
        plans, failed = {}, set()
        for uid, device_messages in by_uid.items():
            device = devices.get(uid)
            if device is None:
                outcome.counts["unknown_device"] += len(device_messages)
                logger.warning("MQTT messages for unknown device %r ignored", uid)
                continue

            def plan(device=device, device_messages=device_messages):
                if _admit(device, device_messages, device.pk in certified, outcome):
                    plans[device.pk] = (device, _steps(device, device_messages, outcome))

            _guarded(device, outcome, failed, plan)
        # Every device's steps in order; the runs of items of all devices go in one ingest_many.
        while plans:
            batch = [
                (device, steps.pop(0)[1])
                for device, steps in plans.values()
                if steps and steps[0][0] == "items" and device.pk not in failed
            ]
            if batch:
                _ingest_round(batch, now, outcome, failed)
            for device, steps in plans.values():
                if steps and steps[0][0] == "status" and device.pk not in failed:
                    _guarded(
                        device, outcome, failed, _run_status, device, steps.pop(0)[1], now, outcome
                    )
            plans = {pk: plan for pk, plan in plans.items() if plan[1] and pk not in failed}
        for uid, device_messages in by_uid.items():
            device = devices.get(uid)
            if device is not None and device.pk in failed:
                outcome.counts["failed"] += len(device_messages)
                for message in device_messages:
                    message.token = None
    return outcome
