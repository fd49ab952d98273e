"""A client's X-Request-ID is kept when it is a plain token (a UUID, the usual form, included) and
recorded on the audit entry of the write it made; anything else is replaced."""

import re
import uuid

import pytest

from encompass.audit.models import AuditEntry
from encompass.tenancy.roles import Role
from encompass.testing.api import api_key_client

pytestmark = pytest.mark.django_db


def key_client(world):
    return api_key_client(world.a, Role.ADMIN, name="ci")


@pytest.mark.parametrize(
    "incoming",
    [
        str(uuid.uuid4()),
        str(uuid.uuid4()).upper(),
        uuid.uuid4().hex,
        "01J9ZQ7X4W5K3T2V8R6N0M1P2Q",
        "4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7",
        "a" * 64,
    ],
)
def test_a_plain_token_is_kept_and_audited(world, incoming):
    client = key_client(world)
    response = client.post(
        "/api/v1/tags/",
        {"name": "kept", "organization": world.a.org.pk},
        format="json",
        HTTP_X_REQUEST_ID=incoming,
    )
    assert response.status_code == 201, response.content
    assert response["X-Request-ID"] == incoming
    assert AuditEntry.objects.filter(action__endswith="create", request_id=incoming).exists()


@pytest.mark.parametrize(
    "incoming",
    ["a" * 65, "has space", 'quote"d', "-leading-dash", "semi;colon", "tab\tid", ""],
)
def test_anything_else_is_replaced_by_a_new_id(world, incoming):
    response = key_client(world).get("/api/v1/sites/", HTTP_X_REQUEST_ID=incoming)
    assert response.status_code == 200
    assert response["X-Request-ID"] != incoming
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])
