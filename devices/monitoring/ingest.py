"""Device event ingest: validate a batch item by item, store the valid ones once, judge, publish.

The contract (docs/monitoring.md):

* A batch is a JSON list (or ``{"events": [...]}``) of at most ``ENCOMPASS["INGEST_MAX_BATCH"]``
  items. A body that is not JSON, not a list, too long or too large stores nothing (400 / 413).
* Each item: ``{"id": "<device's event id>", "kind": "heartbeat"|"telemetry"|"security"|
  "update_status"|"log", "occurred_at": "<ISO 8601 with offset>", "payload": {...}}``.
* Each item is answered: ``accepted`` (stored now), ``duplicate`` (this device already sent this
  id -- stored once, never twice) or ``rejected`` with the field errors. Valid items of a batch
  with rejected ones are stored: the answer says exactly which were not.
* Clock skew: an ``occurred_at`` more than ``INGEST_MAX_FUTURE_SECONDS`` (300) ahead of the
  server, or older than ``INGEST_MAX_AGE_SECONDS`` (7 days), is rejected with the skew named; the
  server's receive time is stored beside the device's time on every event.

One transaction per batch: insert (``ON CONFLICT DO NOTHING`` on PostgreSQL), health, ingest
listeners, rule evaluation, then one publish at commit. ``ingest_many`` does the same for the
batches of many devices at once (the MQTT bridge's), in a number of statements that does not grow
with the number of devices; ``ingest_events`` is its one-device case.
"""

import datetime
import json
import logging
import math
import re
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from devices.choices import LifecycleState
from encompass.events.bulk import DeviceEventRow, insert_device_events
from encompass.events.choices import EventSource, Severity
from encompass.events.models import Event
from encompass.events.services import publish_events, record_event

from .choices import SECURITY_SIGNALS, AlertSeverity
from .health import mark_many_seen
from .hooks import ingest_listeners

logger = logging.getLogger(__name__)

KINDS = {
    "heartbeat": "device.heartbeat",
    "telemetry": "device.telemetry",
    "security": "device.security",
    "update_status": "device.update_status",
    "log": "device.log",
}
ITEM_FIELDS = {"id", "kind", "occurred_at", "payload"}
LOG_LEVELS = {s.value for s in Severity}
EVENT_ID_RE = re.compile(r"^[\x21-\x7e]{1,64}$")
NAME_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
MAX_METRICS = 100


def limits():
    conf = settings.ENCOMPASS
    return {
        "max_batch": conf.get("INGEST_MAX_BATCH", 1000),
        "max_bytes": conf.get("INGEST_MAX_BYTES", 4 * 1024 * 1024),
        "max_item_bytes": conf.get("INGEST_MAX_ITEM_BYTES", 8192),
        "max_future": conf.get("INGEST_MAX_FUTURE_SECONDS", 300),
        "max_age": conf.get("INGEST_MAX_AGE_SECONDS", 7 * 86400),
    }


class BatchRefused(Exception):
    """The body as a whole is unusable; nothing is stored."""

    def __init__(self, status, detail):
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass
class IngestResult:
    results: list = field(default_factory=list)
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    events: list = field(default_factory=list)

    def as_dict(self):
        return {
            "results": self.results,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
        }


def parse_body(body):
    """The list of items in a request body, or ``BatchRefused``."""
    lim = limits()
    if len(body) > lim["max_bytes"]:
        raise BatchRefused(413, f"The body is larger than {lim['max_bytes']} bytes.")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BatchRefused(400, f"The body is not valid JSON: {exc}.") from exc
    if isinstance(data, dict) and set(data) == {"events"}:
        data = data["events"]
    if not isinstance(data, list):
        raise BatchRefused(400, 'Send a JSON list of events (or {"events": [...]}).')
    if not data:
        raise BatchRefused(400, "The batch is empty.")
    if len(data) > lim["max_batch"]:
        raise BatchRefused(
            413, f"At most {lim['max_batch']} events per batch; this one has {len(data)}."
        )
    return data


# --- validation of one item ----------------------------------------------------------------------


def _number(value):
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _validate_payload(kind, payload, errors):
    if kind == "telemetry":
        metrics = payload.get("metrics")
        if not isinstance(metrics, dict) or not metrics:
            errors["payload.metrics"] = "Give an object of metric name to number."
            return Severity.INFO
        if len(metrics) > MAX_METRICS:
            errors["payload.metrics"] = f"At most {MAX_METRICS} metrics per event."
        for name, value in metrics.items():
            if not NAME_RE.match(name):
                errors[f"payload.metrics.{name[:64]}"] = (
                    "Metric names are 1-64 letters, digits, and _ . : -"
                )
            elif not _number(value):
                errors[f"payload.metrics.{name}"] = "Must be a finite number."
        return Severity.INFO
    if kind == "security":
        signal = payload.get("signal")
        if not isinstance(signal, str) or not NAME_RE.match(signal):
            errors["payload.signal"] = (
                f"Name the security signal (e.g. {', '.join(sorted(SECURITY_SIGNALS)[:4])} ...)."
            )
            return Severity.WARNING
        detail = payload.get("detail")
        if detail is not None and not isinstance(detail, str | dict):
            errors["payload.detail"] = "Must be text or an object."
        return SECURITY_SIGNALS.get(signal, Severity.WARNING)
    if kind == "heartbeat":
        version = payload.get("firmware_version")
        if version is not None and (not isinstance(version, str) or not 0 < len(version) <= 64):
            errors["payload.firmware_version"] = "Must be text of 1-64 characters."
        security_version = payload.get("security_version")
        if security_version is not None and (
            not isinstance(security_version, int)
            or isinstance(security_version, bool)
            or security_version < 0
        ):
            errors["payload.security_version"] = "Must be a non-negative integer."
        return Severity.DEBUG
    if kind == "update_status":
        status = payload.get("status")
        if not isinstance(status, str) or not NAME_RE.match(status):
            errors["payload.status"] = "Name the update status (e.g. downloading, installed)."
        return Severity.INFO
    # log
    level = payload.get("level", "info")
    message = payload.get("message")
    if level not in LOG_LEVELS:
        errors["payload.level"] = f"One of {', '.join(sorted(LOG_LEVELS))}."
        level = Severity.INFO
    if not isinstance(message, str) or not message:
        errors["payload.message"] = "Give the log message as text."
    elif len(message) > 4000:
        errors["payload.message"] = "At most 4000 characters."
    return level


def _parse_time(value, now, lim, errors):
    if not isinstance(value, str):
        errors["occurred_at"] = "Give the device time as ISO 8601 text with a UTC offset."
        return None
    try:
        at = datetime.datetime.fromisoformat(value)
    except ValueError:
        errors["occurred_at"] = "Not an ISO 8601 date-time (e.g. 2026-01-31T12:00:00Z)."
        return None
    if at.tzinfo is None:
        errors["occurred_at"] = (
            "Include a UTC offset (Z or +hh:mm): a device time without one is ambiguous."
        )
        return None
    skew = (at - now).total_seconds()
    if skew > lim["max_future"]:
        errors["occurred_at"] = (
            f"{int(skew)} s in the future (limit {lim['max_future']} s): the device clock is ahead."
        )
    elif -skew > lim["max_age"]:
        errors["occurred_at"] = f"{int(-skew)} s old (limit {lim['max_age']} s): too old to accept."
    return at


def validate_item(item, now, lim):
    """``(row, None)`` for a valid item or ``(None, errors)`` naming each bad field."""
    if not isinstance(item, dict):
        return None, {"item": "Each event must be a JSON object."}
    errors = {}
    for name in sorted(set(item) - ITEM_FIELDS):
        errors[name[:64]] = "Unknown field."
    event_id = item.get("id")
    if not isinstance(event_id, str) or not EVENT_ID_RE.match(event_id):
        errors["id"] = "Give the event's own id: 1-64 printable ASCII characters, no spaces."
    kind = item.get("kind")
    if kind not in KINDS:
        errors["kind"] = f"One of {', '.join(KINDS)}."
    at = _parse_time(item.get("occurred_at"), now, lim, errors)
    payload = item.get("payload", {})
    severity = Severity.INFO
    text = "{}"
    if not isinstance(payload, dict):
        errors["payload"] = "Must be a JSON object."
    else:
        if kind in KINDS:
            severity = _validate_payload(kind, payload, errors)
        text = json.dumps(payload, separators=(",", ":"))
        if len(text) > lim["max_item_bytes"]:
            errors["payload"] = f"At most {lim['max_item_bytes']} bytes per event."
    if errors:
        return None, errors
    return DeviceEventRow(event_id, KINDS[kind], str(severity), at, payload, text), None


# --- storing -------------------------------------------------------------------------------------


def _run_listeners(batches):
    for listener, kinds in ingest_listeners():
        for device, events in batches:
            if kinds is not None and not any(e.kind in kinds for e in events):
                continue
            try:
                with transaction.atomic():
                    listener(device, events)
            except Exception:  # a listener's bug must not lose the device's data
                logger.exception("ingest listener %r failed for device %s", listener, device.uid)


def _run_rules(batches, now):
    from .rules import evaluate_batch, evaluate_many

    try:
        with transaction.atomic():
            evaluate_many(batches, now=now)
        return
    except Exception:
        if len(batches) == 1:
            logger.exception("alert rule evaluation failed for device %s", batches[0][0].uid)
            return
        logger.exception("alert rule evaluation of %d devices failed; one at a time", len(batches))
    for device, events in batches:  # one device's trouble must not cost the others their alerts
        try:
            with transaction.atomic():
                evaluate_batch(device, events, now=now)
        except Exception:
            logger.exception("alert rule evaluation failed for device %s", device.uid)


def _validate(items, now, lim, result):
    """Answers for the rejected and repeated items; the rows to store and their indexes."""
    answers = [None] * len(items)
    rows, row_index, seen = [], [], set()
    for index, item in enumerate(items):
        row, errors = validate_item(item, now, lim)
        event_id = item.get("id") if isinstance(item, dict) else None
        if errors:
            answers[index] = {
                "index": index,
                "id": event_id if isinstance(event_id, str) else None,
                "status": "rejected",
                "errors": errors,
            }
            result.rejected += 1
        elif row.event_id in seen:
            answers[index] = {"index": index, "id": row.event_id, "status": "duplicate"}
            result.duplicates += 1
        else:
            seen.add(row.event_id)
            rows.append(row)
            row_index.append(index)
    return answers, rows, row_index


def _answer(device, rows, row_index, answers, stored, now, result):
    events = []
    for row, index in zip(rows, row_index, strict=True):
        pk = stored.get((device.pk, row.event_id))
        if pk is None:
            answers[index] = {"index": index, "id": row.event_id, "status": "duplicate"}
            result.duplicates += 1
            continue
        answers[index] = {"index": index, "id": row.event_id, "status": "accepted", "event": pk}
        result.accepted += 1
        event = Event(
            id=pk,
            organization_id=device.organization_id,
            site_id=device.site_id,
            kind=row.kind,
            source=EventSource.DEVICE,
            severity=row.severity,
            event_id=row.event_id,
            occurred_at=row.occurred_at,
            received_at=now,
            payload=row.payload,
        )
        event.device = device
        events.append(event)
    result.results = answers
    events.sort(key=lambda e: e.pk)
    result.events = events


@transaction.atomic
def ingest_many(batches, *, now=None):
    """Store the (already parsed) batches of several devices in one go.

    ``batches`` is a list of ``(device, items)``, each device at most once; returns
    ``{device pk: IngestResult}``, each exactly what ``ingest_events`` answers for that device
    alone. A bounded number of statements whatever the number of devices: one insert of every
    valid event (its key first: ``ON CONFLICT (device_id, event_id) DO NOTHING``), one last-seen
    update (and one insert of health changes), set-wise rule evaluation; listeners are called per
    device, only for devices with events of the kinds they asked for.
    """
    now = now or timezone.now()
    lim = limits()
    if len({device.pk for device, _items in batches}) != len(batches):
        raise ValueError("ingest_many takes each device once.")
    results, validated = {}, []
    for device, items in batches:
        result = results[device.pk] = IngestResult()
        validated.append((device, result, *_validate(items, now, lim, result)))
    stored = insert_device_events(
        [(device, rows) for device, _r, _a, rows, _i in validated], received_at=now
    )
    for device, result, answers, rows, row_index in validated:
        _answer(device, rows, row_index, answers, stored, now, result)
    fresh = [(device, result.events) for device, result, *_rest in validated if result.events]
    if fresh:
        # Registered first, so the batch is pushed before the events it causes (a health change,
        # alerts), which have higher ids: live clients see the stream in id order.
        publish_events(sorted((e for _d, events in fresh for e in events), key=lambda e: e.pk))
    # anything valid (new or repeated) proves the device is alive
    mark_many_seen([device for device, _r, _a, rows, _i in validated if rows], now)
    if fresh:
        _run_listeners(fresh)
        _run_rules(fresh, now)
    return results


def ingest_events(device, items, *, now=None):
    """Store a device's batch (already parsed); returns the per-item ``IngestResult``."""
    return ingest_many([(device, items)], now=now)[device.pk]


@transaction.atomic
def refuse_device(device, *, method, address=None):
    """Record a report from a device that may not report (not in service, or contained)."""
    from .services import raise_alert

    state = LifecycleState(device.state).label.lower()
    record_event(
        "security.refused_device",
        organization=device.organization,
        device=device,
        severity=Severity.WARNING,
        payload={"state": device.state, "credential": method, "address": address},
    )
    raise_alert(
        organization=device.organization,
        kind="device.refused",
        title=f"{device}: reported while {state}",
        severity=AlertSeverity.HIGH,
        dedupe_key=f"device:{device.pk}:refused",
        device=device,
        details={"state": device.state, "credential": method, "address": address},
        actor=f"device:{device.uid}",
    )
    return f"This device is {state}; it may not report events."
