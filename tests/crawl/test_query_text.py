"""A NUL (or another control character) in a web UI or admin query string: PostgreSQL refuses
NUL in text, so it must never reach a query -- a 4xx, never a 500 (wapiti found it in
``/risk/?q=``)."""

import pytest

from encompass.tenancy.roles import Role
from encompass.testing.web import web

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path",
    [
        "/risk/?q=a%00b",
        "/devices/?q=%00",
        "/incidents/?q=x%00",
        "/admin/audit/auditentry/?q=%00",
        "/admin/devices/device/?q=a%00",
    ],
)
def test_nul_in_a_query_string_is_a_client_error(world, path):
    client = web(world.a.user(Role.ADMIN))
    client.raise_request_exception = False
    response = client.get(path)
    assert 400 <= response.status_code < 500, (path, response.status_code)
