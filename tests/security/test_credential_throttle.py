"""API-key and device-credential failures (issue 15): an address that keeps failing gets 429 for
its failures, while every valid key or device credential from the same address (one NAT) keeps
working; every failure audited on the chain of the key or device it named, never the secret."""

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from devices.choices import LifecycleState
from devices.services import rotate_device_token
from encompass.audit.models import AuditEntry
from encompass.events.models import Event
from encompass.tenancy.roles import Role
from encompass.tenancy.services import create_api_key
from encompass.testing.factories import make_device

pytestmark = pytest.mark.django_db

NAT = "192.0.2.10"
RATES = override_settings(
    REST_FRAMEWORK={
        **__import__("django.conf").conf.settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            "auth_failure": "3/min",
            "device_auth_failure": "3/min",
            "device": "600/min",
        },
    }
)


def client(authorization, ip=NAT):
    c = APIClient(REMOTE_ADDR=ip)
    c.credentials(HTTP_AUTHORIZATION=authorization)
    return c


@RATES
def test_bad_keys_do_not_shut_out_valid_keys_behind_the_same_address(world):
    _key, good = create_api_key(
        organization=world.a.org, name="SIEM", role="auditor", actor=world.a.user(Role.ADMIN)
    )
    for _ in range(3):
        assert client("Bearer enc_000000000000_wrong").get("/api/v1/sites/").status_code == 401
    refused = client("Bearer enc_000000000000_wrong").get("/api/v1/sites/")
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 61
    # Another integration behind the same NAT is not shut out ...
    assert client(f"Bearer {good}").get("/api/v1/sites/").status_code == 200
    # ... the failing client stays refused, and other addresses are unaffected.
    assert client("Bearer enc_000000000000_wrong").get("/api/v1/sites/").status_code == 429
    other = client("Bearer enc_000000000000_wrong", ip="192.0.2.99").get("/api/v1/sites/")
    assert other.status_code == 401


def test_key_failures_are_audited_on_the_keys_organization_without_the_secret(world):
    key, good = create_api_key(
        organization=world.a.org, name="CMDB", role="auditor", actor=world.a.user(Role.ADMIN)
    )
    wrong = good[:-6] + ("A" if good[-6] != "A" else "B") + good[-5:]
    assert client(f"Bearer {wrong}").get("/api/v1/sites/").status_code == 401
    assert client("Bearer enc_ffffffffffff_nothing").get("/api/v1/sites/").status_code == 401
    named = AuditEntry.objects.get(action="auth.api_key.failed", organization=world.a.org)
    assert named.changes["reason"] == "wrong secret for this key prefix"
    assert named.object_id == str(key.pk) and named.ip == NAT
    unknown = AuditEntry.objects.get(action="auth.api_key.failed", chain="platform")
    assert unknown.actor_label == "anonymous:enc_ffffffffffff"
    assert unknown.changes["reason"] == "unknown key prefix"
    stored = str(list(AuditEntry.objects.values_list("changes", "object_repr", "actor_label")))
    assert good.split("_", 2)[2] not in stored and "nothing" not in stored
    event = Event.objects.get(kind="security.auth_failure", payload__method="api_key")
    assert event.organization == world.a.org and event.payload["ip"] == NAT
    assert not Event.objects.filter(organization=world.b.org, kind="security.auth_failure")


@RATES
def test_bad_device_tokens_do_not_shut_out_devices_behind_the_same_address(world):
    device = make_device(world.a.org, site=world.a.sites[0], state=LifecycleState.DEPLOYED)
    _device, token = rotate_device_token(device, actor=world.a.user(Role.ADMIN))
    stale = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for _ in range(3):
        assert client(f"Device {stale}").post("/api/device/v1/events", []).status_code == 401
    assert client(f"Device {stale}").post("/api/device/v1/events", []).status_code == 429
    beat = [{"id": "hb-1", "kind": "heartbeat", "occurred_at": "2026-01-01T00:00:00Z"}]
    ok = client(f"Device {token}").post("/api/device/v1/events", beat, format="json")
    assert ok.status_code == 200, ok.content
    failures = AuditEntry.objects.filter(action="auth.device.failed", organization=world.a.org)
    assert failures.count() == 4
    assert all(e.actor_label == f"device:{device.uid}" for e in failures)
    assert (
        Event.objects.filter(
            kind="security.auth_failure", device=device, payload__method="device_token"
        ).count()
        == 4
    )
