"""Bad input on the staff API gets a clear 4xx and changes nothing (issue 15's server errors).

Each case is one the red team or schemathesis turned into a 500: a null organization on a
threat, deep JSON, a body over the documented 5 MiB, invalid UTF-8, control characters in
bodies and query strings, an API-key lifetime past the integer range, a filter datetime whose
offset PostgreSQL refuses, too many form fields.
"""

import json

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from devices.models import Tag
from encompass.api.parsers import MAX_JSON_DEPTH
from encompass.tenancy.models import ApiKey, Membership
from encompass.tenancy.roles import Role
from risk.models import Threat

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_api(world):
    client = APIClient()
    client.force_authenticate(world.a.user(Role.ADMIN))
    return client


def _post_raw(client, path, body, content_type="application/json"):
    return client.generic("POST", path, body, content_type=content_type)


def test_threat_update_with_null_organization_keeps_it(world, admin_api):
    threat = Threat.objects.create(organization=world.a.org, code="t1", name="T", stride="spoofing")
    response = admin_api.patch(
        f"/api/v1/risk/threats/{threat.pk}/", {"organization": None, "name": "U"}, format="json"
    )
    assert response.status_code == 200, response.content
    threat.refresh_from_db()
    assert (threat.organization_id, threat.name) == (world.a.org.pk, "U")


@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_deeply_nested_json_is_a_clear_400(admin_api, opener):
    closer = "]" if opener == "[" else "}"
    for depth in (MAX_JSON_DEPTH + 1, 100_000):
        body = '{"name": ' + opener * depth + "1" + closer * depth + "}"
        response = _post_raw(admin_api, "/api/v1/tags/", body)
        assert response.status_code == 400, response.content
        assert "nested deeper" in response.json()["detail"]
    assert not Tag.objects.exists()


def test_nesting_within_the_limit_is_parsed(world, admin_api):
    body = json.dumps(
        {"organization": world.a.org.pk, "name": "ok-tag", "extra": json.loads("[" * 30 + "]" * 30)}
    )
    response = _post_raw(admin_api, "/api/v1/tags/", body)
    assert response.status_code == 201, response.content


def _json_of_size(size, name="big", org=1):
    head = '{"organization": ' + str(org) + ', "name": "' + name + '", "pad": "'
    return (head + "x" * (size - len(head) - 2) + '"}').encode()


def test_body_over_the_documented_limit_is_413_and_nothing_is_stored(world, admin_api):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert limit == 5 * 1024 * 1024  # docs/settings.md: ENCOMPASS_MAX_REQUEST_BYTES, 5 MiB
    for size in (limit + 1, 6 * 1024 * 1024):
        response = _post_raw(admin_api, "/api/v1/tags/", _json_of_size(size))
        assert response.status_code == 413, response.content
        assert "larger than" in response.json()["detail"]
    assert not Tag.objects.exists()
    at_limit = _json_of_size(limit, name="at-limit", org=world.a.org.pk)
    assert len(at_limit) == limit
    response = _post_raw(admin_api, "/api/v1/tags/", at_limit)
    assert response.status_code == 201, response.content[:300]


def test_form_body_over_the_limit_is_413(admin_api):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = "name=big&pad=" + "x" * limit
    response = _post_raw(
        admin_api, "/api/v1/tags/", body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 413
    assert not Tag.objects.exists()


def test_too_many_form_fields_is_a_json_400(admin_api):
    body = "&".join(f"f{i}=1" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 5))
    response = _post_raw(
        admin_api, "/api/v1/tags/", body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    assert "Too many form fields" in response.json()["detail"]


def test_invalid_utf8_is_a_clear_400(admin_api):
    response = _post_raw(admin_api, "/api/v1/tags/", b'{"name": "caf\xe9"}')
    assert response.status_code == 400
    assert response.json()["detail"] == "The body is not valid UTF-8 (byte 13)."
    assert not Tag.objects.exists()


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused(admin_api, constant):
    response = _post_raw(admin_api, "/api/v1/tags/", '{"name": "n", "x": ' + constant + "}")
    assert response.status_code == 400


@pytest.mark.parametrize(
    "text", ["a\x00b", "a\x1bb", "a\x7fb", "a\x85b", "evil\u202etxt.exe", "a\u2066b", "\ud800"]
)
def test_control_characters_in_a_body_name_the_field(admin_api, text):
    body = json.dumps({"name": text})  # \\uXXXX escapes: valid JSON, forbidden text
    response = _post_raw(admin_api, "/api/v1/tags/", body)
    assert response.status_code == 400, response.content
    assert "control character" in response.json()["name"][0]
    assert not Tag.objects.exists()


def test_control_characters_in_nested_keys_are_refused(admin_api):
    body = json.dumps({"name": "n", "meta": {"k\x00": 1}})
    response = _post_raw(admin_api, "/api/v1/tags/", body)
    assert response.status_code == 400
    assert "meta" in response.json()


def test_ordinary_text_passes(world, admin_api):
    response = admin_api.post(
        "/api/v1/sites/",
        {
            "organization": world.a.org.pk,
            "name": "Zürich 日本 🙂",
            "slug": "zh",
            "address": "line 1\nline 2\tend",
        },
        format="json",
    )
    assert response.status_code == 201, response.content


def test_nul_in_a_related_username_is_400_not_500(world, admin_api):
    from encompass.tenancy.models import MembershipInvitation

    before = Membership.objects.count(), MembershipInvitation.objects.count()
    response = admin_api.post(
        "/api/v1/membership-invitations/",
        {"organization": world.a.org.pk, "username": "a\x00b", "role": "operator"},
        format="json",
    )
    assert response.status_code == 400
    assert (Membership.objects.count(), MembershipInvitation.objects.count()) == before


@pytest.mark.parametrize("param", ["search", "name", "bad\x00key"])
def test_control_characters_in_the_query_string_are_400(admin_api, param):
    response = admin_api.get("/api/v1/devices/", {param: "x\x00y"})
    assert response.status_code == 400
    assert "control character" in next(iter(response.json().values()))[0]


def test_api_key_lifetime_beyond_the_maximum_is_400(world, admin_api):
    for days in (10**30, settings.ENCOMPASS["API_KEY_MAX_DAYS"] + 1):
        response = admin_api.post(
            "/api/v1/api-keys/",
            {"organization": world.a.org.pk, "name": "n", "role": "auditor", "days": days},
            format="json",
        )
        assert response.status_code == 400, response.content
        assert "expires_at" in response.json()
    assert not ApiKey.objects.exists()


def test_filter_datetimes_with_large_offsets_are_compared_in_utc(admin_api):
    response = admin_api.get("/api/v1/audit-entries/", {"since": "5585-01-07T02:08:50+23:36"})
    assert response.status_code == 200, response.content
    response = admin_api.get("/api/v1/audit-entries/", {"until": "9999-12-31T23:30:00-05:00"})
    assert response.status_code == 400
    assert "until" in response.json()
