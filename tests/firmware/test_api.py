"""REST API: the tenant contract for every endpoint, and each domain action per role."""

import itertools

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from devices.firmware import services
from devices.firmware.choices import ReleaseStatus, RolloutStatus
from devices.firmware.models import DeviceUpdate, FirmwareRelease, Rollout, SigningKey
from encompass.tenancy.roles import Role
from encompass.testing.api import TenantAPIContract
from encompass.testing.factories import make_device_type

from .conftest import Vendor, approved, deployed_devices, image, register_vendor, upload

_n = itertools.count(1)
ROLES = Role.values


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def tenant_release(tenant, approve=True):
    vendor = getattr(tenant, "_vendor", None) or register_vendor(tenant, name=f"v{next(_n)}")
    tenant._vendor = vendor
    dt = make_device_type(tenant.org)
    version = f"1.{next(_n)}.0"
    make = approved if approve else upload
    return make(tenant, vendor, [dt], version, 1, data=image(version)), dt


class TestSigningKeyAPI(TenantAPIContract):
    basename = "signingkey"
    model = SigningKey

    def make(self, world, tenant):
        return register_vendor(tenant, name=f"key {next(_n)}").key

    def create_payload(self, world, tenant):
        return {
            "organization": tenant.org.pk,
            "name": "Vendor B",
            "public_key": Vendor().public_pem,
        }

    def update_payload(self, world, obj):
        return {"name": "Renamed"}


class TestFirmwareReleaseAPI(TenantAPIContract):
    basename = "firmwarerelease"
    model = FirmwareRelease
    creatable = False  # multipart upload: tested per role below
    deletable = False  # releases are revoked, never deleted

    def make(self, world, tenant):
        return tenant_release(tenant, approve=False)[0]

    def update_payload(self, world, obj):
        return {"release_notes": "Fixes the watchdog.", "cves_fixed": ["CVE-2025-1"]}


class TestRolloutAPI(TenantAPIContract):
    basename = "rollout"
    model = Rollout

    def make(self, world, tenant):
        release, dt = tenant_release(tenant)
        return services.create_rollout(
            organization=tenant.org,
            release=release,
            device_type=dt,
            name="r",
            actor=tenant.user(Role.ADMIN),
        )

    def create_payload(self, world, tenant):
        release, dt = tenant_release(tenant)
        return {
            "organization": tenant.org.pk,
            "release": release.pk,
            "device_type": dt.pk,
            "name": "Spring update",
            "waves": [{"percent": 10}, {"percent": 100}],
        }

    def update_payload(self, world, obj):
        return {"name": "Renamed", "failure_threshold": 20}


class TestDeviceUpdateAPI(TenantAPIContract):
    basename = "deviceupdate"
    model = DeviceUpdate
    creatable = updatable = deletable = False

    def make(self, world, tenant):
        release, dt = tenant_release(tenant)
        deployed_devices(tenant, dt, 1)
        rollout = services.create_rollout(
            organization=tenant.org,
            release=release,
            device_type=dt,
            name="r",
            actor=tenant.user(Role.ADMIN),
        )
        services.start_rollout(rollout, actor=tenant.user(Role.ADMIN))
        return DeviceUpdate.objects.get(rollout=rollout)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_upload_by_role(world, vendor, sensor, role):
    data = image(f"up-{role}")
    signature = vendor.sign(device_types=[sensor], version="4.0.0", security_version=2, data=data)
    response = client_for(world.a.user(role)).post(
        "/api/v1/firmware-releases/",
        {
            "device_types": [sensor.pk],
            "version": "4.0.0",
            "security_version": 2,
            "artifact": SimpleUploadedFile("fw.bin", data),
            "signature": signature,
            "cves_fixed": ["CVE-2025-7"],
            "release_notes": "hello",
        },
        format="multipart",
    )
    if role in (Role.ADMIN, Role.SECURITY_OFFICER, Role.OPERATOR):
        assert response.status_code == 201, response.content
        assert response.json()["status"] == "draft"
        assert response.json()["sha256"] == FirmwareRelease.objects.get().sha256
    else:
        assert response.status_code == 403, response.content
        assert not FirmwareRelease.objects.exists()


@pytest.mark.django_db
def test_upload_with_a_bad_signature_names_the_field(world, vendor, sensor):
    response = client_for(world.a.user(Role.OPERATOR)).post(
        "/api/v1/firmware-releases/",
        {
            "device_types": [sensor.pk],
            "version": "4.0.0",
            "security_version": 2,
            "artifact": SimpleUploadedFile("fw.bin", b"x" * 500),
            "signature": Vendor().sign(
                device_types=[sensor], version="4.0.0", security_version=2, data=b"x" * 500
            ),
        },
        format="multipart",
    )
    assert response.status_code == 400
    assert "signature" in response.json()
    assert not FirmwareRelease.objects.exists()


@pytest.mark.django_db
def test_upload_for_another_tenants_device_type_is_refused(world, vendor):
    b_type = make_device_type(world.b.org)
    response = client_for(world.a.user(Role.OPERATOR)).post(
        "/api/v1/firmware-releases/",
        {
            "device_types": [b_type.pk],
            "version": "4.0.0",
            "security_version": 2,
            "artifact": SimpleUploadedFile("fw.bin", b"x" * 10),
            "signature": "AAAA",
        },
        format="multipart",
    )
    assert response.status_code == 400
    assert not FirmwareRelease.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_approve_by_role(world, vendor, sensor, role):
    release = upload(world.a, vendor, [sensor], "2.0.0", 1, actor=world.a.user(Role.ADMIN))
    response = client_for(world.a.user(role)).post(
        f"/api/v1/firmware-releases/{release.pk}/approve/", {"note": "reviewed"}
    )
    release.refresh_from_db()
    if role == Role.SECURITY_OFFICER:
        assert response.status_code == 200, response.content
        assert release.status == ReleaseStatus.APPROVED
    else:
        assert response.status_code == 403, response.content
        assert release.status == ReleaseStatus.DRAFT


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_revoke_and_deprecate_by_role(world, releases, role):
    old, new = releases
    client = client_for(world.a.user(role))
    deprecated = client.post(f"/api/v1/firmware-releases/{old.pk}/deprecate/", {"note": "old"})
    revoked = client.post(f"/api/v1/firmware-releases/{new.pk}/revoke/", {"reason": "CVE"})
    assert deprecated.status_code == (
        200 if role in ("admin", "security_officer", "operator") else 403
    )
    assert revoked.status_code == (200 if role in ("admin", "security_officer") else 403)


@pytest.mark.django_db
def test_other_tenant_release_actions_are_not_found(world, releases):
    old, _new = releases
    client = client_for(world.b.user(Role.SECURITY_OFFICER))
    assert (
        client.post(f"/api/v1/firmware-releases/{old.pk}/revoke/", {"reason": "x"}).status_code
        == 404
    )
    old.refresh_from_db()
    assert old.status == ReleaseStatus.APPROVED


@pytest.mark.django_db
def test_rollout_of_another_tenants_release_is_refused(world, releases, sensor):
    _old, new = releases
    b_type = make_device_type(world.b.org)
    response = client_for(world.b.user(Role.ADMIN)).post(
        "/api/v1/rollouts/",
        {"release": new.pk, "device_type": b_type.pk, "name": "steal"},
        format="json",
    )
    assert response.status_code == 400
    assert "release" in response.json()
    assert not Rollout.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_rollout_actions_by_role(world, releases, sensor, role):
    _old, new = releases
    deployed_devices(world.a, sensor, 3)
    rollout = services.create_rollout(
        organization=world.a.org,
        release=new,
        device_type=sensor,
        name="r",
        actor=world.a.user(Role.ADMIN),
    )
    client = client_for(world.a.user(role))
    start = client.post(f"/api/v1/rollouts/{rollout.pk}/start/")
    can_start = role in ("admin", "operator")
    assert start.status_code == (200 if can_start else 403), start.content
    if not can_start:
        services.start_rollout(rollout, actor=world.a.user(Role.ADMIN))
    else:
        body = start.json()
        assert body["status"] == "running"
        assert sum(w["planned"] for w in body["progress"]) == 3
    pause = client.post(f"/api/v1/rollouts/{rollout.pk}/pause/", {"reason": "look"})
    can_pause = role in ("admin", "operator", "security_officer")
    assert pause.status_code == (200 if can_pause else 403)
    if not can_pause:
        services.pause_rollout(rollout, actor=world.a.user(Role.ADMIN), reason="look")
    resume = client.post(f"/api/v1/rollouts/{rollout.pk}/resume/", {"reason": "fine"})
    assert resume.status_code == (200 if role in ("admin", "operator", "security_officer") else 403)
    abort = client.post(f"/api/v1/rollouts/{rollout.pk}/abort/", {"reason": "stop"})
    assert abort.status_code == (200 if can_pause else 403)
    progress = client.get(f"/api/v1/rollouts/{rollout.pk}/progress/")
    assert progress.status_code == 200 and progress.json()["waves"]


@pytest.mark.django_db
def test_actions_need_a_reason_and_a_valid_state(world, releases, sensor):
    _old, new = releases
    rollout = services.create_rollout(
        organization=world.a.org,
        release=new,
        device_type=sensor,
        name="r",
        actor=world.a.user(Role.ADMIN),
    )
    client = client_for(world.a.user(Role.OPERATOR))
    assert "reason" in client.post(f"/api/v1/rollouts/{rollout.pk}/pause/", {}).json()
    response = client.post(f"/api/v1/rollouts/{rollout.pk}/start/")
    assert response.status_code == 400 and "target" in response.json()
    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.DRAFT


@pytest.mark.django_db
def test_list_query_counts_do_not_grow(world, django_assert_max_num_queries):
    client = client_for(world.a.user(Role.ADMIN))
    for _ in range(2):
        tenant_release(world.a)
    with django_assert_max_num_queries(12):
        assert client.get("/api/v1/firmware-releases/").status_code == 200
    for _ in range(4):
        tenant_release(world.a)
    with django_assert_max_num_queries(12):
        assert len(client.get("/api/v1/firmware-releases/").json()["results"]) == 6
