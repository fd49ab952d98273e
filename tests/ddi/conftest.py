"""DDI fixtures: the firmware fixtures (vendor key, releases, deployed devices) plus DDI
clients authenticated the three ways hawkBit offers."""

import pytest
from rest_framework.test import APIClient

from devices.firmware import services
from devices.services import rotate_device_token
from encompass.tenancy.roles import Role
from tests.firmware.conftest import (  # noqa: F401 (fixtures)
    _media,
    releases,
    sensor,
    vendor,
)


def ddi_client(device, tenant, scheme="TargetToken"):
    """A DRF client speaking DDI as ``device`` with its target token; also returns the token."""
    _locked, token = rotate_device_token(device, actor=tenant.user(Role.ADMIN))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {token}")
    return client, token


def base(device):
    return f"/{device.organization.slug}/controller/v1/{device.uid}"


def running_rollout(tenant, release, device_type, **settings):
    settings.setdefault("waves", [{"percent": 100}])
    settings.setdefault("max_start_delay_seconds", 0)
    settings.setdefault("name", f"DDI {release.version}")
    rollout = services.create_rollout(
        organization=tenant.org,
        release=release,
        device_type=device_type,
        actor=tenant.user(Role.OPERATOR),
        **settings,
    )
    return services.start_rollout(rollout, actor=tenant.user(Role.OPERATOR))


@pytest.fixture
def ddi_rollout(world, releases, sensor):  # noqa: F811
    return running_rollout(world.a, releases[1], sensor)
