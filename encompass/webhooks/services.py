"""Outbound webhooks: endpoints, HMAC-signed deliveries, retries with exponential backoff.

Signature header (verify it before trusting a request; see docs/webhooks.md)::

    X-Encompass-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>

Deliveries are queued in the transaction of the event that caused them (so a rolled-back change
sends nothing), posted by a django-q2 task after commit, and retried by the
``webhooks.deliveries`` schedule. Targets must be http(s); private, loopback and link-local
addresses are refused unless ``ENCOMPASS["WEBHOOK_ALLOW_PRIVATE_NETWORKS"]`` (or the environment
variable ``ENCOMPASS_WEBHOOK_ALLOW_PRIVATE_NETWORKS=1``) allows them.
"""

import datetime
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import secrets
import socket
import time
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from encompass.audit.services import record_audit, snapshot
from encompass.events.visibility import snapshot_xmin, tracks_transactions
from encompass.exceptions import ValidationError
from encompass.tenancy.access import ensure_can_create, ensure_permitted

from .choices import DeliveryStatus
from .crypto import SecretUnavailable, decrypt_secret, encrypt_secret
from .models import WebhookCursor, WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Encompass-Signature"
# Seconds to wait before retry n (after attempt n failed); after the last, the delivery gives up.
BACKOFF_SECONDS = [60, 5 * 60, 15 * 60, 60 * 60, 4 * 60 * 60, 12 * 60 * 60]
MAX_ATTEMPTS = len(BACKOFF_SECONDS) + 1
TIMEOUT_SECONDS = 10
FAN_OUT_CURSOR = "webhook-fan-out"


# --- signing -------------------------------------------------------------------------------------


def sign(secret, timestamp, body):
    """Hex HMAC-SHA256 of ``f"{timestamp}.{body}"`` under ``secret``."""
    if isinstance(body, bytes):
        body = body.decode()
    return hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()


def signature_header(secret, body, timestamp=None):
    timestamp = int(timestamp if timestamp is not None else time.time())
    return f"t={timestamp},v1={sign(secret, timestamp, body)}"


def verify_signature(secret, header, body, *, tolerance=300, now=None):
    """What a receiver does: parse the header, check freshness and compare in constant time."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    now = int(now if now is not None else time.time())
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(given, sign(secret, timestamp, body))


# --- where we may send ----------------------------------------------------------------------------


def allow_private_networks():
    configured = settings.ENCOMPASS.get("WEBHOOK_ALLOW_PRIVATE_NETWORKS")
    if configured is not None:
        return bool(configured)
    return os.environ.get("ENCOMPASS_WEBHOOK_ALLOW_PRIVATE_NETWORKS", "").lower() in {
        "1",
        "true",
        "yes",
    }


def _is_public(address):
    ip = ipaddress.ip_address(address)
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def check_url(url, *, resolve=True):
    """Raise ``ValidationError({"url": ...})`` unless ``url`` is a target we may post to."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https"):
        raise ValidationError({"url": "Webhook URLs must use http or https."})
    if not parts.hostname:
        raise ValidationError({"url": "The URL has no host."})
    if parts.username or parts.password:
        raise ValidationError(
            {"url": "Put no credentials in the URL; verify the signature instead."}
        )
    if allow_private_networks() or not resolve:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise ValidationError({"url": f"Cannot resolve {parts.hostname}: {exc}"}) from exc
    for info in infos:
        if not _is_public(info[4][0]):
            raise ValidationError(
                {"url": f"{parts.hostname} resolves to a private or local address ({info[4][0]})."}
            )


def _check_prefixes(prefixes):
    if not isinstance(prefixes, list) or not prefixes:
        raise ValidationError(
            {"event_prefixes": 'Give a list of event kind prefixes, e.g. ["incident."].'}
        )
    for p in prefixes:
        if not isinstance(p, str) or not p.strip() or len(p) > 64:
            raise ValidationError({"event_prefixes": f"{p!r} is not an event kind prefix."})
    return [p.strip() for p in prefixes]


# --- endpoints ----------------------------------------------------------------------------------


def _new_secret():
    return "whsec_" + secrets.token_urlsafe(32)


@transaction.atomic
def create_webhook_endpoint(*, organization, name, url, event_prefixes, actor, active=True):
    """Create an endpoint; returns ``(endpoint, secret)`` -- the secret is shown this once."""
    ensure_can_create(actor, WebhookEndpoint, organization)
    if not (name or "").strip():
        raise ValidationError({"name": "Name the integration."})
    prefixes = _check_prefixes(event_prefixes)
    check_url(url)
    endpoint = WebhookEndpoint(
        organization=organization,
        name=name.strip(),
        url=url,
        event_prefixes=prefixes,
        active=active,
        created_by=actor
        if getattr(actor, "_meta", None) and actor._meta.label == "auth.User"
        else None,
    )
    secret = _new_secret()
    endpoint.secret_encrypted = b"pending"
    endpoint.secret_hint = secret[-4:]
    endpoint.full_clean(exclude=["secret_encrypted"])
    endpoint.save()
    endpoint.secret_encrypted = encrypt_secret(secret, organization.pk)
    endpoint.save(update_fields=["secret_encrypted"])
    _ensure_cursor()
    record_audit(
        "webhooks.webhookendpoint.create",
        actor=actor,
        obj=endpoint,
        changes={"after": snapshot(endpoint)},
    )
    return endpoint, secret


@transaction.atomic
def update_webhook_endpoint(endpoint, data, *, actor):
    from encompass.tenancy.crud import update_object

    if "url" in data:
        check_url(data["url"])
    if "event_prefixes" in data:
        data = {**data, "event_prefixes": _check_prefixes(data["event_prefixes"])}
    return update_object(endpoint, data, actor=actor, event=False)


@transaction.atomic
def rotate_webhook_secret(endpoint, *, actor):
    """A new signing secret (the old one stops at once); returns ``(endpoint, secret)``."""
    ensure_permitted(actor, "change", endpoint)
    locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    secret = _new_secret()
    locked.secret_encrypted = encrypt_secret(secret, locked.organization_id)
    locked.secret_hint = secret[-4:]
    locked.save(update_fields=["secret_encrypted", "secret_hint", "updated_at"])
    record_audit("webhooks.webhookendpoint.rotate_secret", actor=actor, obj=locked, changes={})
    return locked, secret


def endpoint_secret(endpoint):
    return decrypt_secret(endpoint.secret_encrypted, endpoint.organization_id)


# --- queueing -------------------------------------------------------------------------------------


def _payload(event):
    return {
        "event": event.pk,
        "kind": event.kind,
        "organization": event.organization_id,
        "severity": event.severity,
        "occurred_at": (event.occurred_at or event.received_at).isoformat(),
        "data": event.payload,
    }


def body_of(delivery):
    return json.dumps(
        {"delivery": delivery.pk, **delivery.payload}, sort_keys=True, separators=(",", ":")
    )


def _enqueue(pk):
    from django_q.tasks import async_task

    try:
        async_task("encompass.webhooks.tasks.deliver_webhook", pk, task_name=f"webhook-{pk}")
    except Exception:  # the retry schedule picks it up
        logger.warning("could not enqueue webhook delivery %s", pk, exc_info=True)


def queue_deliveries_for_event(event, endpoints=None):
    """Create a delivery per interested endpoint (idempotent); post them after commit."""
    if endpoints is None:
        endpoints = WebhookEndpoint.objects.filter(
            organization_id=event.organization_id, active=True
        )
    created = []
    for endpoint in endpoints:
        if not endpoint.wants(event.kind):
            continue
        delivery, new = WebhookDelivery.objects.get_or_create(
            endpoint=endpoint,
            event=event,
            defaults={
                "organization_id": event.organization_id,
                "kind": event.kind,
                "payload": _payload(event),
                "next_attempt_at": timezone.now(),
            },
        )
        if new:
            created.append(delivery.pk)
    for pk in created:
        transaction.on_commit(lambda pk=pk: _enqueue(pk))
    return created


def _ensure_cursor():
    from encompass.events.models import Event

    defaults = {
        "last_event_id": Event.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    }
    if tracks_transactions():
        defaults["position_txid"] = snapshot_xmin()
    WebhookCursor.objects.get_or_create(name=FAN_OUT_CURSOR, defaults=defaults)


def _active_endpoints():
    endpoints = {}
    for ep in WebhookEndpoint.objects.filter(active=True):
        endpoints.setdefault(ep.organization_id, []).append(ep)
    return endpoints


def _queue_for_rows(events, endpoints):
    """Deliveries for a run of events, each (endpoint, event) once however often it is read: the
    fan-out reads again the rows of transactions that had not ended, and incidents queue theirs
    in the event's own transaction."""
    wanted = [
        (endpoint, event)
        for event in events
        for endpoint in endpoints.get(event.organization_id, ())
        if endpoint.wants(event.kind)
    ]
    if not wanted:
        return 0
    existing = set(
        WebhookDelivery.objects.filter(
            event_id__in={event.pk for _, event in wanted},
            endpoint_id__in={endpoint.pk for endpoint, _ in wanted},
        ).values_list("endpoint_id", "event_id")
    )
    now = timezone.now()
    fresh = [
        WebhookDelivery(
            endpoint=endpoint,
            event=event,
            organization_id=event.organization_id,
            kind=event.kind,
            payload=_payload(event),
            next_attempt_at=now,
        )
        for endpoint, event in wanted
        if (endpoint.pk, event.pk) not in existing
    ]
    created = WebhookDelivery.objects.bulk_create(fresh)
    for delivery in created:
        transaction.on_commit(lambda pk=delivery.pk: _enqueue(pk))
    return len(created)


def fan_out_events(batch=1000, max_batches=20):
    """Queue deliveries for events other apps recorded (``alert.*`` ...) since the last run.

    Never skips an event whose transaction commits late (after a later one was read): on
    PostgreSQL the position moves in (transaction id, event id) order and only past rows of
    transactions that have ended (encompass/events/visibility.py); on SQLite ids become visible
    in order. Rows of transactions still open somewhere are queued as soon as they are visible
    and read again until their transaction horizon passes; queueing is idempotent.
    """
    from encompass.events.models import Event

    # Taken before the cursor's transaction: that one gets a transaction id of its own (the row
    # lock), which would otherwise hold the horizon back to itself.
    xmin = snapshot_xmin() if tracks_transactions() else None
    with transaction.atomic():
        cursor = (
            WebhookCursor.objects.select_for_update(skip_locked=True)
            .filter(name=FAN_OUT_CURSOR)
            .first()
        )
        if cursor is None:
            return 0
        endpoints = _active_endpoints()
        if xmin is None or cursor.position_txid is None:
            # By id: SQLite, or (PostgreSQL) the rows written before events had a txid.
            query = Event.objects.filter(pk__gt=cursor.last_event_id)
            if xmin is not None:
                query = query.filter(txid__isnull=True)
            events = list(query.order_by("pk")[:batch])
            queued = _queue_for_rows(events, endpoints)
            if events:
                cursor.last_event_id = events[-1].pk
            if xmin is not None and len(events) < batch:
                cursor.position_txid, cursor.position_id = 0, 0
            cursor.save(update_fields=["last_event_id", "position_txid", "position_id"])
            return queued
        position = (cursor.position_txid, cursor.position_id)
        read_to = position
        queued = 0
        for _ in range(max_batches):
            after = Q(txid__gt=read_to[0]) | Q(txid=read_to[0], pk__gt=read_to[1])
            events = list(Event.objects.filter(after).order_by("txid", "pk")[:batch])
            queued += _queue_for_rows(events, endpoints)
            if len(events) < batch:
                # Everything visible is read: every row of an ended transaction is behind us.
                position = max(position, (xmin, 0))
                break
            read_to = (events[-1].txid, events[-1].pk)
            # Rows come in txid order, so when the last is final, all are.
            position = read_to if read_to[0] < xmin else max(position, (xmin, 0))
        cursor.position_txid, cursor.position_id = position
        cursor.save(update_fields=["position_txid", "position_id"])
        return queued


# --- delivering -----------------------------------------------------------------------------------


# A claimed delivery is not picked up again before this (a worker killed mid-post leaves it
# claimed: it is retried when the lease ends, and that counts as an attempt).
CLAIM_SECONDS = TIMEOUT_SECONDS + 50


def _claim(delivery_pk):
    """Take a due delivery for one attempt, in a short transaction of its own: counts the
    attempt and moves ``next_attempt_at`` past the claim's lease, so no other worker posts it
    meanwhile and a worker that dies mid-post leaves it to be retried. None when not due."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .select_related("endpoint")
            .filter(pk=delivery_pk)
            .first()
        )
        if delivery is None or delivery.status not in (
            DeliveryStatus.PENDING,
            DeliveryStatus.RETRYING,
        ):
            return None
        now = timezone.now()
        if delivery.next_attempt_at and delivery.next_attempt_at > now:
            return None
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.next_attempt_at = now + datetime.timedelta(seconds=CLAIM_SECONDS)
        delivery.save(update_fields=["attempts", "last_attempt_at", "next_attempt_at"])
        return delivery


def _post(delivery):
    """One HTTP attempt, outside any transaction: ``(status code, error, final)``; ``final``
    when retrying cannot help (the signing secret cannot be decrypted)."""
    endpoint = delivery.endpoint
    body = body_of(delivery)
    try:
        if not endpoint.active:
            raise ValidationError({"endpoint": "The endpoint is disabled."})
        check_url(endpoint.url)
        secret = endpoint_secret(endpoint)
    except ValidationError as exc:
        return None, "; ".join(exc.messages), False
    except SecretUnavailable as exc:
        return None, f"Cannot sign: {exc}", True
    try:
        response = httpx.post(
            endpoint.url,
            content=body.encode(),
            headers={
                "Content-Type": "application/json",
                "User-Agent": "Encompass-Webhooks/1",
                "X-Encompass-Event": delivery.kind,
                "X-Encompass-Delivery": str(delivery.pk),
                SIGNATURE_HEADER: signature_header(secret, body),
            },
            timeout=TIMEOUT_SECONDS,
            follow_redirects=False,
        )
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500], False
    code = response.status_code
    return code, "" if 200 <= code < 300 else f"HTTP {code}: {response.text[:300]}", False


def deliver(delivery_pk):
    """Post one delivery if it is due; record the outcome and schedule a retry on failure.

    Claim (commit), post (no transaction, no row lock held across the HTTP call), record (a
    second short transaction). At least once: a worker killed between the post and the record
    leaves the claim to expire and the delivery is posted again with the same
    ``X-Encompass-Delivery`` id, which receivers de-duplicate on.
    """
    claimed = _claim(delivery_pk)
    if claimed is None:
        return None
    code, error, final = _post(claimed)
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().get(pk=claimed.pk)
        if delivery.attempts != claimed.attempts or delivery.status not in (
            DeliveryStatus.PENDING,
            DeliveryStatus.RETRYING,
        ):
            return delivery  # redelivered (or given up) meanwhile: that one counts from here
        now = timezone.now()
        delivery.last_status_code = code
        delivery.last_error = error
        if not error:
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = now
            delivery.next_attempt_at = None
        elif final or delivery.attempts >= MAX_ATTEMPTS:
            delivery.status = DeliveryStatus.FAILED
            delivery.next_attempt_at = None
        else:
            delivery.status = DeliveryStatus.RETRYING
            delivery.next_attempt_at = claimed.last_attempt_at + datetime.timedelta(
                seconds=BACKOFF_SECONDS[delivery.attempts - 1]
            )
        delivery.save()
        return delivery


def retry_due_deliveries(limit=200):
    """Enqueue every delivery whose (re)try is due; the schedule runs this every minute."""
    due = list(
        WebhookDelivery.objects.filter(
            status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING],
            next_attempt_at__lte=timezone.now(),
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in due:
        _enqueue(pk)
    return len(due)


@transaction.atomic
def redeliver(delivery, *, actor):
    """Send a delivery again (after fixing the receiver); counts from a fresh attempt budget."""
    ensure_permitted(actor, "redeliver", delivery)
    locked = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
    locked.status = DeliveryStatus.PENDING
    locked.attempts = 0
    locked.next_attempt_at = timezone.now()
    locked.save(update_fields=["status", "attempts", "next_attempt_at", "updated_at"])
    record_audit("webhooks.webhookdelivery.redeliver", actor=actor, obj=locked, changes={})
    transaction.on_commit(lambda: _enqueue(locked.pk))
    return locked
