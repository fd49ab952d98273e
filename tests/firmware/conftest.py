"""Firmware test fixtures: a vendor key, releases uploaded and approved through the services,
deployed devices with device tokens, and a device-API client."""

import pytest
from rest_framework.test import APIClient

from devices.services import rotate_device_token
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device_type
from encompass.testing.firmware import (  # noqa: F401 (tests import them from here)
    Vendor,
    approved,
    deployed_devices,
    image,
    register_vendor,
    upload,
    use_tmp_media,
)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    use_tmp_media(settings, tmp_path)


def device_client(device, tenant):
    _locked, token = rotate_device_token(device, actor=tenant.user(Role.ADMIN))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Device {token}")
    return client


@pytest.fixture
def vendor(world):
    return register_vendor(world.a)


@pytest.fixture
def sensor(world):
    return make_device_type(world.a.org, manufacturer="Acme", model="Meter-9")


@pytest.fixture
def releases(world, vendor, sensor):
    """Approved 1.0.0 (sv 1) and 1.1.0 (sv 2) for the sensor type."""
    old = approved(world.a, vendor, [sensor], "1.0.0", 1)
    new = approved(world.a, vendor, [sensor], "1.1.0", 2)
    return old, new
