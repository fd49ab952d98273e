"""With Redis down, device ingest, the REST API and the web UI keep answering (the cache fails
open); with Django's plain RedisCache the same outage turned every one of them into a 500."""

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from devices.choices import LifecycleState
from devices.services import rotate_device_token
from encompass.events.models import Event
from encompass.tenancy.roles import Role
from encompass.tenancy.services import create_api_key
from encompass.testing.factories import make_device

from .conftest import report

pytestmark = [pytest.mark.django_db, pytest.mark.faults]


def _batch(prefix, n):
    at = timezone.now().isoformat()
    return [
        {
            "id": f"{prefix}-{i}",
            "kind": "telemetry",
            "occurred_at": at,
            "payload": {"metrics": {"temp_c": 20 + i}},
        }
        for i in range(n)
    ]


@pytest.fixture
def surfaces(world):
    device = make_device(world.a.org, site=world.a.sites[0], state=LifecycleState.DEPLOYED)
    device, token = rotate_device_token(device, actor=world.a.user(Role.ADMIN))
    _, key = create_api_key(
        organization=world.a.org,
        name="siem",
        role=Role.AUDITOR,
        actor=world.a.user(Role.ADMIN),
        days=30,
    )
    device_client, api_client, web = APIClient(), APIClient(), APIClient()
    web.force_login(world.a.user(Role.OPERATOR))

    def ingest(items):
        return device_client.post(
            "/api/device/v1/events",
            items,
            format="json",
            HTTP_AUTHORIZATION=f"Device {token}",
        )

    def api():
        return api_client.get("/api/v1/devices/", HTTP_AUTHORIZATION=f"Bearer {key}")

    def ui():
        return web.get("/overview/")

    return device, ingest, api, ui


def test_requests_keep_working_while_redis_is_down(own_cache, surfaces):
    device, ingest, api, ui = surfaces
    assert ingest(_batch("up", 5)).status_code == 200
    own_cache.kill()
    statuses = {"ingest": [], "api": [], "ui": []}
    accepted = 0
    for round_ in range(5):
        answer = ingest(_batch(f"down{round_}", 10))
        statuses["ingest"].append(answer.status_code)
        accepted += answer.json().get("accepted", 0) if answer.status_code == 200 else 0
        statuses["api"].append(api().status_code)
        statuses["ui"].append(ui().status_code)
    own_cache.start()
    statuses["ingest"].append(ingest(_batch("back", 5)).status_code)
    stored = Event.objects.filter(device=device, kind="device.telemetry").count()
    report(
        "redis-down-requests",
        sent=60,
        acknowledged=accepted,
        stored=stored,
        errors=sum(s >= 500 for v in statuses.values() for s in v),
    )
    assert set(statuses["ingest"]) == {200}, statuses
    assert set(statuses["api"]) == {200}, statuses
    assert set(statuses["ui"]) == {200}, statuses
    assert accepted == 50 and stored == 60


def test_the_plain_redis_cache_fails_the_request(own_cache, surfaces, settings):
    """The fault the suite guards against, reproduced: Django's own backend raises."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": own_cache.url,
        }
    }
    _, ingest, _, _ = surfaces
    own_cache.kill()
    with pytest.raises(RedisConnectionError):
        ingest(_batch("plain", 1))


def test_throttle_counts_again_once_redis_is_back(own_cache, surfaces, settings):
    from django.core.cache import cache

    from encompass.api.throttling import AuthFailureThrottle

    class Request:
        META = {"REMOTE_ADDR": "203.0.113.9"}

    throttle = AuthFailureThrottle()
    own_cache.kill()
    throttle.record_failure(Request())  # dropped, not raised
    assert not throttle.is_blocked(Request())
    own_cache.start()
    import encompass.cache as failopen

    failopen._outage_for(own_cache.url).down_until = 0  # skip the back-off in the test
    for _ in range(throttle.limit):
        throttle.record_failure(Request())
    assert throttle.is_blocked(Request())
    cache.clear()
