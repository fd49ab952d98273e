"""Webhook delivery under faults: KEK rotation end to end (before the fix every delivery raised
InvalidTag after ``rotate_kek`` and stalled for ever), a secret that cannot be decrypted (failed
with a reason, never stuck), and no row lock held across the HTTP call."""

import base64
import os

import httpx
import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

from encompass.events.services import record_event
from encompass.tenancy.roles import Role
from encompass.webhooks.crypto import V1, _aad, key_id_of
from encompass.webhooks.models import WebhookDelivery, WebhookEndpoint
from encompass.webhooks.services import create_webhook_endpoint, deliver, fan_out_events
from tests.incidents.test_webhooks import Receiver

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.faults]


def kek():
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


@pytest.fixture
def receiver(settings):
    settings.ENCOMPASS = {**settings.ENCOMPASS, "WEBHOOK_ALLOW_PRIVATE_NETWORKS": True}
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def no_enqueue(monkeypatch):
    monkeypatch.setattr("encompass.webhooks.services._enqueue", lambda pk: None)


def _endpoint(world, receiver):
    endpoint, secret = create_webhook_endpoint(
        organization=world.a.org,
        name="SOAR",
        url=receiver.url,
        event_prefixes=["probe."],
        actor=world.a.user(Role.ADMIN),
    )
    receiver.secret = secret
    return endpoint


def _one_delivery(world, tag):
    record_event(f"probe.{tag}", organization=world.a.org)
    fan_out_events()
    return WebhookDelivery.objects.get(kind=f"probe.{tag}")


def test_kek_rotation_end_to_end(world, receiver, no_enqueue, settings, monkeypatch):
    old, new = kek(), kek()
    settings.KEY_ENCRYPTION_KEY = old
    endpoint = _endpoint(world, receiver)
    assert deliver(_one_delivery(world, "before").pk).status == "delivered"
    # Step 1 of docs/identity.md: the new KEK current, the old one listed as previous.
    settings.KEY_ENCRYPTION_KEY = new
    monkeypatch.setenv("ENCOMPASS_PREVIOUS_KEY_ENCRYPTION_KEYS", old)
    assert deliver(_one_delivery(world, "during").pk).status == "delivered"
    # Step 2: rotate_kek re-encrypts the webhook secrets too.
    call_command("rotate_kek")
    endpoint.refresh_from_db()
    from devices.identity.keystore import key_id

    assert key_id_of(endpoint.secret_encrypted) == key_id(base64.urlsafe_b64decode(new))
    # Step 3: the old KEK removed; deliveries still sign with the same secret.
    monkeypatch.delenv("ENCOMPASS_PREVIOUS_KEY_ENCRYPTION_KEYS")
    assert deliver(_one_delivery(world, "after").pk).status == "delivered"
    assert [r["valid"] for r in receiver.received] == [True, True, True]
    call_command("rotate_kek")  # nothing left to do: safe to run twice


def test_a_secret_that_cannot_be_decrypted_fails_the_delivery_with_a_reason(
    world, receiver, no_enqueue, settings
):
    settings.KEY_ENCRYPTION_KEY = kek()
    _endpoint(world, receiver)
    settings.KEY_ENCRYPTION_KEY = kek()  # rotated without listing the old KEK
    delivery = deliver(_one_delivery(world, "lost").pk)
    assert delivery.status == "failed" and delivery.next_attempt_at is None
    assert "not configured" in delivery.last_error and "rotate" in delivery.last_error
    assert receiver.received == []


def test_secrets_stored_without_a_key_id_still_work_and_are_rewrapped(
    world, receiver, no_enqueue, settings
):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    settings.KEY_ENCRYPTION_KEY = kek()
    endpoint = _endpoint(world, receiver)
    nonce = os.urandom(12)
    legacy = (
        V1
        + nonce
        + AESGCM(base64.urlsafe_b64decode(settings.KEY_ENCRYPTION_KEY)).encrypt(
            nonce, receiver.secret.encode(), _aad(endpoint.organization_id)
        )
    )
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(secret_encrypted=legacy)
    assert deliver(_one_delivery(world, "legacy").pk).status == "delivered"
    call_command("rotate_kek")
    endpoint.refresh_from_db()
    assert key_id_of(endpoint.secret_encrypted) is not None


def test_no_row_lock_is_held_while_posting(world, receiver, no_enqueue, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("row locks: PostgreSQL")
    settings_dict = connection.settings_dict
    dsn = (
        f"host={settings_dict['HOST'] or '127.0.0.1'} port={settings_dict['PORT'] or 5432} "
        f"user={settings_dict['USER']} dbname={settings_dict['NAME']}"
    )
    seen = {}
    _endpoint(world, receiver)
    delivery = _one_delivery(world, "lock")

    def while_posting():
        # Another worker, while the HTTP call is in flight: the row must not be locked.
        with psycopg.connect(dsn, autocommit=False) as other:
            try:
                other.execute(
                    "SELECT id FROM incidents_webhookdelivery WHERE id = %s FOR UPDATE NOWAIT",
                    [delivery.pk],
                )
                seen["locked"] = False
            except psycopg.errors.LockNotAvailable:
                seen["locked"] = True

    real_post = httpx.post

    def post(*args, **kwargs):
        while_posting()
        # A second worker given the same delivery meanwhile does not post it again.
        seen["second"] = deliver(delivery.pk)
        return real_post(*args, **kwargs)

    monkeypatch.setattr(httpx, "post", post)
    assert deliver(delivery.pk).status == "delivered"
    assert seen == {"locked": False, "second": None}
    assert len(receiver.received) == 1
