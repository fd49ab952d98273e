import pytest
from rest_framework.test import APIClient

from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device, make_device_type
from encompass.testing.web import web as sign_in


@pytest.fixture
def api():
    """``api(user)`` -> an API client acting as ``user``."""

    def client_for(user):
        client = APIClient()
        client.force_authenticate(user)
        return client

    return client_for


@pytest.fixture
def plain_type(world):
    """A device type without certificates (identity's deploy guard does not apply to it)."""
    return make_device_type(world.a.org, supports_certificates=False, manufacturer="Acme")


@pytest.fixture
def device(world, plain_type):
    return make_device(world.a.org, site=world.a.sites[0], device_type=plain_type)


@pytest.fixture
def admin(world):
    return world.a.user(Role.ADMIN)


@pytest.fixture
def web(client):
    """``web(user)`` -> a Django test client signed in as ``user`` (second factor given)."""
    return lambda user: sign_in(user, client)
