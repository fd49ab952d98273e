"""Who contains a component: releases, the devices running them, exports per device, tenancy."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from devices.choices import LifecycleState
from devices.firmware.models import Component, FirmwareRelease, SoftwareBill
from devices.firmware.sbom import parse_document
from encompass.tenancy.roles import Role
from encompass.testing.api import api_key_client
from encompass.testing.factories import make_device, make_device_type

from ..firmware.conftest import image, register_vendor, upload

pytestmark = pytest.mark.django_db


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def key_client(tenant, role="auditor"):
    return api_key_client(tenant, role, name="sbom-reader")


def attach(tenant, release, data):
    response = client_for(tenant.user(Role.OPERATOR)).post(
        f"/api/v1/firmware-releases/{release.pk}/sbom/",
        {"sbom": SimpleUploadedFile("sbom", data)},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    return response.json()


def device(tenant, dt, version, name):
    return make_device(
        tenant.org,
        site=tenant.sites[0],
        device_type=dt,
        state=LifecycleState.DEPLOYED,
        firmware_version=version,
        name=name,
    )


@pytest.fixture
def fleet(world, release, generated):
    """Release 3.1.0 (whole-venv SBOM) and 3.2.0 (three requirements), devices on each."""
    attach(world.a, release, generated["cdx_json"])
    newer = upload(world.a, release.vendor, [release.dt], "3.2.0", 2, data=image("3.2.0"))
    attach(world.a, newer, generated["cdx_xml"])
    on_old = [device(world.a, release.dt, "3.1.0", f"old-{i}") for i in range(3)]
    on_new = [device(world.a, release.dt, "3.2.0", "new-0")]
    other_type = make_device_type(world.a.org, manufacturer="Acme", model="Other")
    unrelated = device(world.a, other_type, "3.1.0", "same-version-other-type")
    return release, newer, on_old, on_new, unrelated


def test_which_releases_and_devices_contain_a_component(
    world, fleet, django_assert_max_num_queries
):
    old, new, on_old, on_new, _unrelated = fleet
    client = client_for(world.a.user(Role.TECHNICIAN))
    purl = Component.objects.get(release=old, purl_name="packageurl-python").purl
    releases = client.get("/api/v1/sbom-components/releases/", {"purl": purl}).json()
    assert {r["id"] for r in releases["results"]} == {old.pk, new.pk}
    # Without a version, any version of the package; with another version, none.
    assert client.get("/api/v1/sbom-components/releases/", {"purl": "pkg:pypi/Django"}).json()[
        "results"
    ]
    gone = client.get("/api/v1/sbom-components/releases/", {"purl": "pkg:pypi/django@0.1"})
    assert gone.json()["results"] == []
    only_old = Component.objects.filter(release=old).exclude(
        purl_name__in=Component.objects.filter(release=new).values("purl_name")
    )[0]
    devices = client.get("/api/v1/sbom-components/devices/", {"purl": only_old.purl}).json()
    assert {d["id"] for d in devices["results"]} == {d.pk for d in on_old}
    everywhere = client.get("/api/v1/sbom-components/devices/", {"name": "packageurl-python"})
    assert {d["id"] for d in everywhere.json()["results"]} == {d.pk for d in on_old + on_new}
    with django_assert_max_num_queries(8):
        client.get("/api/v1/sbom-components/devices/", {"purl": purl, "page_size": 2})


def test_components_list_filters(world, fleet, django_assert_max_num_queries):
    old, new, *_ = fleet
    client = client_for(world.a.user(Role.AUDITOR))
    with django_assert_max_num_queries(6):
        page = client.get("/api/v1/sbom-components/", {"release": old.pk, "page_size": 100})
    assert len(page.json()["results"]) == 100
    listed = client.get("/api/v1/sbom-components/", {"release": new.pk}).json()
    assert {c["name"] for c in listed["results"]} == {"Django", "packageurl-python", "cryptography"}
    by_name = client.get("/api/v1/sbom-components/", {"name": "django"}).json()
    assert {c["release"] for c in by_name["results"]} == {old.pk, new.pk}
    bad = client.get("/api/v1/sbom-components/releases/", {"purl": "not-a-purl"})
    assert bad.status_code == 400 and "purl" in bad.json()
    assert client.get("/api/v1/sbom-components/releases/").status_code == 400


def test_device_sbom_is_its_installed_release(world, fleet, generated):
    _old, new, on_old, on_new, unrelated = fleet
    client = client_for(world.a.user(Role.AUDITOR))
    summary = client.get(f"/api/v1/device-sboms/{on_new[0].pk}/").json()
    assert summary["release"] == new.pk
    for kind in ("cyclonedx", "spdx"):
        exported = client.get(f"/api/v1/device-sboms/{on_old[0].pk}/{kind}/")
        assert exported.status_code == 200
        assert {c.purl for c in parse_document(exported.content).components if c.purl} == {
            c.purl for c in parse_document(generated["cdx_json"]).components if c.purl
        }
    assert client.get(f"/api/v1/device-sboms/{unrelated.pk}/").status_code == 404


def test_another_organizations_key_sees_nothing(world, fleet):
    old, _new, on_old, *_ = fleet
    client = key_client(world.b)
    for path in (
        f"/api/v1/firmware-releases/{old.pk}/sbom/",
        f"/api/v1/firmware-releases/{old.pk}/sbom/cyclonedx/",
        f"/api/v1/firmware-releases/{old.pk}/sbom/spdx/",
        f"/api/v1/firmware-releases/{old.pk}/sbom/document/",
        f"/api/v1/device-sboms/{on_old[0].pk}/",
        f"/api/v1/device-sboms/{on_old[0].pk}/spdx/",
        f"/api/v1/sbom-components/{Component.objects.filter(release=old).first().pk}/",
    ):
        assert client.get(path).status_code == 404, path
    assert client.get("/api/v1/sbom-components/").json()["results"] == []
    for lookup in ("releases", "devices"):
        found = client.get(f"/api/v1/sbom-components/{lookup}/", {"name": "django"})
        assert found.status_code == 200 and found.json()["results"] == []
    writer = key_client(world.b, role="admin")
    denied = writer.post(
        f"/api/v1/firmware-releases/{old.pk}/sbom/",
        {"sbom": SimpleUploadedFile("sbom", b"{}")},
        format="multipart",
    )
    assert denied.status_code == 404
    assert key_client(world.a).get(f"/api/v1/firmware-releases/{old.pk}/sbom/").status_code == 200


def _release_form(world, vendor, dt, version, sbom):
    data = image(version)
    return {
        "organization": world.a.org.pk,
        "device_types": [dt.pk],
        "version": version,
        "security_version": 3,
        "artifact": SimpleUploadedFile("fw.bin", data),
        "signature": vendor.sign(device_types=[dt], version=version, security_version=3, data=data),
        "sbom": SimpleUploadedFile("sbom.spdx", sbom),
    }


def test_release_upload_takes_an_sbom_and_a_bad_one_stores_nothing(world, generated, settings):
    vendor = register_vendor(world.a)
    dt = make_device_type(world.a.org, manufacturer="Acme", model="Cam-2")
    client = client_for(world.a.user(Role.OPERATOR))
    response = client.post(
        "/api/v1/firmware-releases/",
        _release_form(world, vendor, dt, "5.0.0", generated["spdx_tag"]),
        format="multipart",
    )
    assert response.status_code == 201, response.content
    bill = SoftwareBill.objects.get(release_id=response.json()["id"])
    assert bill.format == "spdx-tag-value" and bill.component_count > 1
    broken = json.loads(generated["spdx_json"])
    broken["spdxVersion"] = "SPDX-2.1"
    refused = client.post(
        "/api/v1/firmware-releases/",
        _release_form(world, vendor, dt, "5.1.0", json.dumps(broken).encode()),
        format="multipart",
    )
    assert refused.status_code == 400 and "sbom" in refused.json()
    assert not FirmwareRelease.objects.filter(version="5.1.0").exists()
    stored = list((settings.MEDIA_ROOT / "firmware").rglob("*.bin"))
    assert len(stored) == 1
