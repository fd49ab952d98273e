"""What schemathesis found once its key stayed valid for the whole run, each fixed at its cause
(docs/security.md "Schema fuzzing"): the answers now match the documented schema.

* an URL that matches no route under /api/ (``/api/v1/alerts/1.5/``) answered Django's HTML 404;
  now the API's JSON error;
* ``page_size=abc`` and ``?passed=maybe`` were read as "not given" (the whole list); now 400;
* creating a site, tag, device type ... with an API key and no ``organization`` (documented as
  optional: the key's organization) answered "This field is required." from the model's
  unique-together validator; now the key's organization;
* ``register-from-inventory`` answered assets without their ``risk_count``;
* ``check-runs/{id}/findings/`` is paginated and documented so; ``failing_truncated`` is a
  boolean in the schema too;
* a multipart body Twisted could not parse got a bare ``400`` with no body from the web server
  before Django saw it (``encompass.server``); now Django's parsers answer with a message.
"""

import urllib.error
import urllib.request

import pytest
from django.db import connection

from compliance.models import CheckRun
from devices.models import Tag
from encompass.tenancy.models import Site
from encompass.tenancy.roles import Role
from encompass.testing.api import api_key_client
from encompass.testing.factories import make_device_type
from encompass.testing.servers import WebServer, database_url
from risk.models import Asset

pytestmark = pytest.mark.django_db


def test_an_api_url_matching_no_route_answers_json(world):
    client = api_key_client(world.a, Role.ADMIN)
    for path in ("/api/v1/alerts/1.5e-3/resolve/", "/api/v1/no-such-thing/", "/api/device/v1/x/"):
        response = client.get(path)
        assert response.status_code == 404
        assert response["Content-Type"] == "application/json", path
        assert response.json() == {"detail": "Not found."}
    # The web UI keeps its HTML pages.
    assert client.get("/no-such-page/")["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("value", ["abc", "0", "-3", "null", "1.5"])
def test_a_page_size_that_is_not_a_positive_whole_number_is_refused(world, value):
    response = api_key_client(world.a).get(f"/api/v1/devices/?page_size={value}")
    assert response.status_code == 400
    assert "page_size" in response.json()


def test_page_size_empty_is_the_default_and_large_is_capped(world):
    client = api_key_client(world.a)
    assert client.get("/api/v1/devices/?page_size=").status_code == 200
    assert client.get("/api/v1/devices/?page_size=100000").status_code == 200


def test_a_boolean_filter_takes_only_true_or_false(world):
    client = api_key_client(world.a)
    assert client.get("/api/v1/compliance/check-runs/?passed=maybe").status_code == 400
    for value in ("true", "false", "1", "0", "True", ""):
        assert client.get(f"/api/v1/compliance/check-runs/?passed={value}").status_code == 200


def test_creating_without_organization_uses_the_keys_organization(world):
    client = api_key_client(world.a, Role.ADMIN)
    response = client.post("/api/v1/sites/", {"name": "Harbour", "slug": "harbour"}, format="json")
    assert response.status_code == 201, response.content
    assert Site.objects.get(slug="harbour").organization == world.a.org
    response = client.post("/api/v1/tags/", {"name": "pumps"}, format="json")
    assert response.status_code == 201, response.content
    assert Tag.objects.get(name="pumps").organization == world.a.org
    # The model's uniqueness still holds within that organization.
    again = client.post("/api/v1/sites/", {"name": "Harbour", "slug": "harbour"}, format="json")
    assert again.status_code == 400
    assert Site.objects.filter(slug="harbour").count() == 1


def test_assets_registered_from_the_inventory_carry_their_risk_count(world):
    make_device_type(world.a.org, manufacturer="Kamstrup", model="flowIQ")
    client = api_key_client(world.a, Role.ADMIN)
    response = client.post("/api/v1/risk/assets/register-from-inventory/", {}, format="json")
    assert response.status_code == 201, response.content
    assert response.json() and all(a["risk_count"] == 0 for a in response.json())
    assert Asset.objects.filter(organization=world.a.org).count() == len(response.json())


def test_check_run_findings_are_paginated_as_documented(world):
    client = api_key_client(world.a, Role.ADMIN)
    assert client.post("/api/v1/compliance/checks/run/", {}, format="json").status_code == 201
    run = CheckRun.objects.filter(organization=world.a.org).first()
    body = client.get(f"/api/v1/compliance/check-runs/{run.pk}/findings/").json()
    assert set(body) == {"next", "previous", "results"}
    assert isinstance(
        client.get(f"/api/v1/compliance/check-runs/{run.pk}/").json()["failing_truncated"], bool
    )
    schema = client.get("/api/schema/?format=json").json()
    findings = schema["paths"]["/api/v1/compliance/check-runs/{id}/findings/"]["get"]
    ref = findings["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ref.endswith("/PaginatedCheckFindingList")
    run_schema = schema["components"]["schemas"]["CheckRun"]["properties"]
    assert run_schema["failing_truncated"]["type"] == "boolean"


@pytest.mark.django_db(transaction=True)
def test_a_multipart_body_the_server_cannot_read_reaches_django(world, tmp_path, settings):
    from encompass.tenancy.services import create_api_key

    _key, plaintext = create_api_key(
        organization=world.a.org, name="t", role=Role.ADMIN, actor=world.a.user(Role.ADMIN)
    )
    env = {
        "SECRET_KEY": settings.SECRET_KEY,
        "ENCOMPASS_KEY_ENCRYPTION_KEY": settings.KEY_ENCRYPTION_KEY,
        "ALLOWED_HOSTS": "127.0.0.1",
    }
    boundary = "c637e12e2b1a998d80d1b087531af51c"
    with WebServer(database_url(connection.settings_dict), tmp_path / "web.log", env=env) as web:
        request = urllib.request.Request(
            f"{web.url}/api/v1/devices/import/",
            data=f"--{boundary}--\r\n".encode(),
            method="POST",
            headers={
                "Authorization": f"Bearer {plaintext}",
                "Content-Type": f"multipart/form-data; boundary={boundary}",
            },
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 400
    assert refused.value.headers["Content-Type"] == "application/json"
    assert "file" in refused.value.read().decode()
