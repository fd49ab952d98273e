"""Exposure set-wise: affected devices are a paginated, filterable queryset, exposure counts come
from one aggregate over (type, firmware), so no query count grows with the fleet; and the
affected-devices endpoint is tenant-isolated."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from devices.choices import LifecycleState
from devices.models import Device
from encompass.tenancy.roles import Role
from encompass.tenancy.services import create_api_key
from encompass.testing.web import web
from risk import services


def grow(world, dtype, versions, n):
    """``n`` deployed devices of ``dtype`` cycling through ``versions`` (bulk: set-up only)."""
    start = Device.objects.count()
    Device.objects.bulk_create(
        [
            Device(
                organization=world.a.org,
                site=world.a.sites[i % 2],
                device_type=dtype,
                manufacturer=dtype.manufacturer,
                state=LifecycleState.DEPLOYED,
                serial_number=f"EXP-{start + i}",
                name=f"exp-{start + i:05d}",
                firmware_version=versions[i % len(versions)],
            )
            for i in range(n)
        ]
    )


def queries(fn):
    with CaptureQueriesContext(connection) as ctx:
        response = fn()
    assert response.status_code == 200, response.content[:300]
    return len(ctx.captured_queries)


def api_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def surfaces(world, vuln):
    officer_web = web(world.a.user(Role.SECURITY_OFFICER))
    api = api_for(world.a.user(Role.AUDITOR))
    return {
        "web list": lambda: officer_web.get(reverse("risk_ui:vulnerabilities")),
        "web detail": lambda: officer_web.get(reverse("risk_ui:vulnerability", args=[vuln.pk])),
        "api list": lambda: api.get(reverse("risk-vulnerability-list")),
        "api detail": lambda: api.get(reverse("risk-vulnerability-detail", args=[vuln.pk])),
        "api affected": lambda: api.get(
            reverse("risk-vulnerability-affected-devices", args=[vuln.pk])
        ),
    }


def test_query_counts_do_not_grow_with_the_fleet(world, gateway_type, fleet, vuln):
    versions = ["1.9.0", "2.0.5", "2.1.0", "2.4.1", "build-7731"]
    grow(world, gateway_type, versions, 6)
    small = {name: queries(fn) for name, fn in surfaces(world, vuln).items()}
    grow(world, gateway_type, versions, 150)
    big = {name: queries(fn) for name, fn in surfaces(world, vuln).items()}
    assert big == small


def test_counts_come_from_the_aggregate_and_match_the_devices(world, gateway_type, fleet, vuln):
    grow(world, gateway_type, ["2.0.5", "2.3.9", "1.0.0", "weird"], 40)
    counts = services.exposure_counts([vuln])[vuln.pk]
    devices = list(services.affected_devices(vuln))
    assert counts.affected == len(devices) == 10 + 10 + 10 + 2  # 2.0.5, 2.3.9, weird, fixture
    assert counts.unverified == sum(d.firmware_unverified for d in devices) == 11
    proven = services.affected_devices(vuln, include_unverified=False)
    assert proven.count() == 21 and not any(d.firmware_unverified for d in proven)
    # Retired devices drop out; a firmware update changes the answer at once.
    Device.objects.filter(firmware_version="2.3.9").update(state=LifecycleState.DISPOSED)
    Device.objects.filter(firmware_version="weird").update(firmware_version="2.4.0")
    assert services.exposure_counts([vuln])[vuln.pk].affected == 10 + 2


def test_affected_devices_api_paginates_and_filters(world, gateway_type, fleet, vuln):
    grow(world, gateway_type, ["2.0.5", "2.1.0", "build-1"], 60)
    api = api_for(world.a.user(Role.AUDITOR))
    url = reverse("risk-vulnerability-affected-devices", args=[vuln.pk])
    first = api.get(url, {"page_size": 25}).json()
    assert len(first["results"]) == 25 and first["next"]
    seen = [d["id"] for d in first["results"]]
    following = first["next"]
    while following:
        page = api.get(following).json()
        seen += [d["id"] for d in page["results"]]
        following = page["next"]
    assert len(seen) == len(set(seen)) == 62
    unverified = api.get(url, {"unverified": "true", "page_size": 500}).json()["results"]
    assert len(unverified) == 21 and all(d["firmware_unverified"] for d in unverified)
    one_site = api.get(url, {"site": world.a.sites[0].pk, "page_size": 500}).json()["results"]
    assert len(one_site) == 30
    named = api.get(url, {"q": "exp-0000", "page_size": 500}).json()["results"]
    assert {d["name"] for d in named} <= {f"exp-{i:05d}" for i in range(10)} and named
    assert api.get(url, {"version": "2.1.0"}).status_code == 200  # unknown params are ignored
    assert api.get(url, {"site": "not-a-number"}).status_code == 400
    # The web page pages too, and says how many are affected in all.
    page = web(world.a.user(Role.SECURITY_OFFICER)).get(
        reverse("risk_ui:vulnerability", args=[vuln.pk]), {"page": 2}
    )
    assert b"Page 2 of 2" in page.content and b"(62, 21 with unverifiable firmware)" in page.content


def test_affected_devices_are_not_found_for_another_organization(world, fleet, vuln):
    url = reverse("risk-vulnerability-affected-devices", args=[vuln.pk])
    assert api_for(world.b.user(Role.ADMIN)).get(url).status_code == 404
    _key, plaintext = create_api_key(
        organization=world.b.org, name="siem", role=Role.AUDITOR, actor=world.b.user(Role.ADMIN)
    )
    other_key = APIClient()
    other_key.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert other_key.get(url).status_code == 404
    missing = reverse("risk-vulnerability-affected-devices", args=[vuln.pk + 10_000])
    assert other_key.get(missing).status_code == 404
    _key, own = create_api_key(
        organization=world.a.org, name="siem", role=Role.AUDITOR, actor=world.a.user(Role.ADMIN)
    )
    own_key = APIClient()
    own_key.credentials(HTTP_AUTHORIZATION=f"Bearer {own}")
    assert len(own_key.get(url).json()["results"]) == 2
    page = web(world.b.user(Role.ADMIN)).get(reverse("risk_ui:vulnerability", args=[vuln.pk]))
    assert page.status_code == 404


@pytest.fixture(autouse=True)
def _db(db):
    return db
