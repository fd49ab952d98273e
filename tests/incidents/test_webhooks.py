"""Outbound webhooks: signature a real receiver verifies, retries through django-q2, URL rules."""

import datetime
import http.server
import json
import threading

import pytest
from django.utils import timezone

from encompass.exceptions import ValidationError
from encompass.tenancy.roles import Role
from encompass.webhooks.crypto import decrypt_secret
from encompass.webhooks.models import WebhookDelivery
from encompass.webhooks.services import (
    SIGNATURE_HEADER,
    check_url,
    create_webhook_endpoint,
    deliver,
    fan_out_events,
    retry_due_deliveries,
    verify_signature,
)
from incidents.services import change_phase

pytestmark = pytest.mark.django_db


class Receiver:
    """A real HTTP server on 127.0.0.1 that verifies the signature of what it receives."""

    def __init__(self, fail_first=0):
        self.fail_first = fail_first
        self.received = []
        self.secret = None
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                ok = verify_signature(receiver.secret, self.headers[SIGNATURE_HEADER], body)
                receiver.received.append(
                    {
                        "body": json.loads(body),
                        "valid": ok,
                        "event": self.headers["X-Encompass-Event"],
                    }
                )
                if receiver.fail_first > 0:
                    receiver.fail_first -= 1
                    self.send_response(503)
                elif not ok:
                    self.send_response(401)
                else:
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def allow_loopback(settings):
    settings.ENCOMPASS = {**settings.ENCOMPASS, "WEBHOOK_ALLOW_PRIVATE_NETWORKS": True}


@pytest.fixture
def sync_q(monkeypatch):
    """django-q2 runs tasks in-process; on-commit callbacks run when the block exits."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def endpoint_for(world, receiver, prefixes=("incident.",)):
    endpoint, secret = create_webhook_endpoint(
        organization=world.a.org,
        name="SOAR",
        url=receiver.url,
        event_prefixes=list(prefixes),
        actor=world.a.user(Role.ADMIN),
    )
    receiver.secret = secret
    return endpoint, secret


def test_signed_delivery_verified_by_a_real_receiver(
    world, incident, officer, receiver, allow_loopback, sync_q, commit
):
    endpoint, secret = endpoint_for(world, receiver)
    assert secret.startswith("whsec_")
    assert secret.encode() not in bytes(endpoint.secret_encrypted)
    assert decrypt_secret(endpoint.secret_encrypted, world.a.org.pk) == secret
    with commit():  # on commit: delivered through django-q2
        change_phase(incident, "analysis", actor=officer)
    [got] = receiver.received
    assert got["valid"] and got["event"] == "incident.phase_changed"
    assert got["body"]["data"]["to"] == "analysis"
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "delivered" and delivery.last_status_code == 204


def test_tampered_body_or_wrong_secret_or_stale_timestamp_fail_verification():
    from encompass.webhooks.services import signature_header

    body = '{"a":1}'
    header = signature_header("s3cret", body)
    assert verify_signature("s3cret", header, body)
    assert not verify_signature("s3cret", header, '{"a":2}')
    assert not verify_signature("other", header, body)
    old = signature_header("s3cret", body, timestamp=1_000_000)
    assert not verify_signature("s3cret", old, body)
    assert not verify_signature("s3cret", "garbage", body)


def test_failing_receiver_is_retried_with_backoff_and_delivered(
    world, incident, officer, allow_loopback, sync_q, commit
):
    receiver = Receiver(fail_first=1)
    try:
        endpoint_for(world, receiver)
        with commit():
            change_phase(incident, "analysis", actor=officer)
        delivery = WebhookDelivery.objects.get()
        assert delivery.status == "retrying" and delivery.attempts == 1
        assert delivery.last_status_code == 503
        assert delivery.next_attempt_at > timezone.now() + datetime.timedelta(seconds=50)
        assert retry_due_deliveries() == 0  # not due yet
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            next_attempt_at=timezone.now() - datetime.timedelta(seconds=1)
        )
        assert retry_due_deliveries() == 1  # enqueued through django-q2 (sync here)
        delivery.refresh_from_db()
        assert delivery.status == "delivered" and delivery.attempts == 2
        assert [r["valid"] for r in receiver.received] == [True, True]
        assert deliver(delivery.pk) is None  # delivered ones are never sent again
    finally:
        receiver.close()


def test_gives_up_after_the_last_attempt(world, incident, officer, allow_loopback, sync_q, commit):
    from encompass.webhooks.services import MAX_ATTEMPTS

    receiver = Receiver(fail_first=100)
    try:
        endpoint_for(world, receiver)
        with commit():
            change_phase(incident, "analysis", actor=officer)
        delivery = WebhookDelivery.objects.get()
        for _ in range(MAX_ATTEMPTS - 1):
            WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
            deliver(delivery.pk)
        delivery.refresh_from_db()
        assert delivery.status == "failed" and delivery.attempts == MAX_ATTEMPTS
        assert delivery.next_attempt_at is None
    finally:
        receiver.close()


def test_alert_events_of_other_apps_are_fanned_out(world, receiver, allow_loopback, sync_q, commit):
    from .conftest import raise_test_alert

    endpoint_for(world, receiver, prefixes=["alert."])
    raise_test_alert(world.a.org, key="fan")
    raise_test_alert(world.b.org, key="other-tenant")
    with commit():
        assert fan_out_events() == 1
    assert fan_out_events() == 0
    assert [r["event"] for r in receiver.received] == ["alert.raised"]


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/x", "file:///etc/passwd", "javascript:alert(1)", "http://u:p@example.com/"],
)
def test_only_http_urls(world, url):
    with pytest.raises(ValidationError) as err:
        create_webhook_endpoint(
            organization=world.a.org,
            name="x",
            url=url,
            event_prefixes=["incident."],
            actor=world.a.user(Role.ADMIN),
        )
    assert "url" in err.value.message_dict


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x",
        "http://10.1.2.3/x",
        "http://[::1]/x",
        "http://169.254.169.254/latest/meta-data",
    ],
)
def test_private_targets_refused_by_default(settings, url):
    settings.ENCOMPASS = {**settings.ENCOMPASS, "WEBHOOK_ALLOW_PRIVATE_NETWORKS": False}
    with pytest.raises(ValidationError):
        check_url(url)


def test_prefixes_are_required(world):
    with pytest.raises(ValidationError) as err:
        create_webhook_endpoint(
            organization=world.a.org,
            name="x",
            url="https://example.com/h",
            event_prefixes=[],
            actor=world.a.user(Role.ADMIN),
        )
    assert "event_prefixes" in err.value.message_dict
