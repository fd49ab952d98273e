import datetime
import itertools

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from devices.choices import LifecycleState
from devices.services import rotate_device_token
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device

_ids = itertools.count(1)


def iso(at=None):
    return (at or timezone.now()).isoformat()


def item(kind="telemetry", payload=None, *, event_id=None, at=None):
    if payload is None:
        payload = {"metrics": {"temp_c": 21.5}} if kind == "telemetry" else {}
    return {
        "id": event_id or f"ev-{next(_ids)}",
        "kind": kind,
        "occurred_at": iso(at),
        "payload": payload,
    }


class Reporter:
    """A device with a real token, posting to the real device API."""

    def __init__(self, device, token):
        self.device = device
        self.token = token
        self.client = APIClient()

    def post(self, body, **extra):
        return self.client.post(
            "/api/device/v1/events",
            body,
            format="json",
            HTTP_AUTHORIZATION=f"Device {self.token}",
            **extra,
        )


@pytest.fixture
def make_reporter(world):
    def factory(tenant=None, state=LifecycleState.DEPLOYED, **fields):
        tenant = tenant or world.a
        device = make_device(tenant.org, site=tenant.sites[0], state=state, **fields)
        device, token = rotate_device_token(device, actor=tenant.user(Role.ADMIN))
        return Reporter(device, token)

    return factory


@pytest.fixture
def reporter(make_reporter):
    return make_reporter()


__all__ = ["datetime", "item"]
