"""REST API: CRUD contract per role and tenant, transition/history/checklist/token/bulk/inventory."""

import pytest
from django.urls import reverse

from devices.choices import LifecycleState
from devices.models import Device, DeviceType, LifecycleTransition, Tag
from encompass.audit.models import AuditEntry
from encompass.tenancy.roles import Role
from encompass.testing.api import TenantAPIContract
from encompass.testing.factories import make_device, make_device_type

S = LifecycleState
pytestmark = pytest.mark.django_db


class TestDeviceTypeAPI(TenantAPIContract):
    basename = "device-type"
    model = DeviceType

    def make(self, world, tenant):
        return make_device_type(tenant.org)

    def create_payload(self, world, tenant):
        return {
            "organization": tenant.org.pk,
            "manufacturer": "Kamstrup",
            "model": "flowIQ 2200",
            "device_class": "sensor",
            "heartbeat_interval": 900,
            "support_ends_on": "2031-12-31",
        }

    def update_payload(self, world, obj):
        return {"heartbeat_interval": 120}


class TestTagAPI(TenantAPIContract):
    basename = "tag"
    model = Tag

    def make(self, world, tenant):
        return Tag.objects.create(organization=tenant.org, name=f"t-{Tag.objects.count()}")

    def create_payload(self, world, tenant):
        return {"organization": tenant.org.pk, "name": "pilot"}

    def update_payload(self, world, obj):
        return {"name": "renamed"}


class TestDeviceAPI(TenantAPIContract):
    basename = "device"
    model = Device

    def make(self, world, tenant):
        return make_device(tenant.org, site=tenant.sites[0])

    def create_payload(self, world, tenant):
        device_type = make_device_type(tenant.org)
        return {
            "organization": tenant.org.pk,
            "device_type": device_type.pk,
            "site": tenant.sites[0].pk,
            "serial_number": "KM-0001",
            "name": "Meter 1",
            "tags": ["pilot", "building-a"],
            "criticality": "high",
        }

    def update_payload(self, world, obj):
        return {"name": "Renamed meter", "location_notes": "Basement, left of the pump"}


def test_create_generates_uid_and_ignores_nothing_silently(world, api):
    admin = world.a.user(Role.ADMIN)
    device_type = make_device_type(world.a.org)
    payload = {
        "device_type": device_type.pk,
        "serial_number": "X-1",
        "name": "x",
        "tags": ["pilot"],
    }
    response = api(admin).post(reverse("device-list"), payload, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["uid"].startswith("dev_") and len(body["uid"]) == 24
    assert body["state"] == "procured" and body["tags"] == ["pilot"]
    assert body["allowed_next_states"] == ["provisioned", "decommissioning"]
    # A second one with the same serial of the same maker is refused, naming the field.
    again = api(admin).post(reverse("device-list"), payload, format="json")
    assert again.status_code == 400


def test_state_cannot_be_set_directly(world, api):
    device = make_device(world.a.org, site=world.a.sites[0])
    client = api(world.a.user(Role.ADMIN))
    response = client.patch(reverse("device-detail", args=[device.pk]), {"state": "deployed"})
    assert response.status_code == 400
    assert "transition" in response.json()["state"][0]
    device.refresh_from_db()
    assert device.state == S.PROCURED


def test_uid_is_immutable(world, api):
    device = make_device(world.a.org, site=world.a.sites[0])
    uid = device.uid
    api(world.a.user(Role.ADMIN)).patch(
        reverse("device-detail", args=[device.pk]), {"uid": "dev_x", "name": "n"}
    )
    device.refresh_from_db()
    assert device.uid == uid


def test_technician_may_edit_but_not_move(world, api, plain_type):
    device = make_device(world.a.org, site=world.a.sites[0], device_type=plain_type)
    url = reverse("device-detail", args=[device.pk])
    tech = api(world.site_technician)
    assert tech.patch(url, {"location_notes": "Rack 3"}).status_code == 200
    # a site outside the technician's reach does not exist for them: the answer of a missing id
    moved = tech.patch(url, {"site": world.a.sites[1].pk})
    assert moved.status_code == 400
    assert moved.json()["site"] == [f'Invalid pk "{world.a.sites[1].pk}" - object does not exist.']
    device.refresh_from_db()
    assert device.site == world.a.sites[0]


def test_cross_tenant_site_refused(world, api):
    device = make_device(world.a.org, site=world.a.sites[0])
    response = api(world.a.user(Role.ADMIN)).patch(
        reverse("device-detail", args=[device.pk]), {"site": world.b.sites[0].pk}
    )
    assert response.status_code == 400
    device.refresh_from_db()
    assert device.site == world.a.sites[0]


def test_delete_only_mistaken_registrations(world, api, plain_type):
    admin = api(world.a.user(Role.ADMIN))
    deployed = make_device(
        world.a.org, site=world.a.sites[0], device_type=plain_type, state=S.DEPLOYED
    )
    response = admin.delete(reverse("device-detail", args=[deployed.pk]))
    assert response.status_code == 400
    assert "decommission it instead" in response.json()["detail"][0]
    assert Device.objects.filter(pk=deployed.pk).exists()
    from django.utils import timezone

    seen = make_device(world.a.org, device_type=plain_type)
    Device.objects.filter(pk=seen.pk).update(last_seen_at=timezone.now())
    assert admin.delete(reverse("device-detail", args=[seen.pk])).status_code == 400


def test_transition_endpoint_and_history(world, api, plain_type):
    device = make_device(world.a.org, site=world.a.sites[0], device_type=plain_type)
    client = api(world.a.user(Role.OPERATOR))
    url = reverse("device-transition", args=[device.pk])
    for target in ("provisioned", "deployed", "maintenance"):
        response = client.post(url, {"to": target, "reason": f"to {target}"})
        assert response.status_code == 200, response.content
        assert response.json()["state"] == target
    bad = client.post(url, {"to": "disposed", "reason": "nope"})
    assert bad.status_code == 400
    assert bad.json()["to"] == [
        "A maintenance device cannot become disposed. "
        "Allowed next states: Deployed, Quarantined, Decommissioning."
    ]
    assert client.post(url, {"to": "deployed"}).status_code == 400  # reason required
    history = client.get(reverse("device-history", args=[device.pk])).json()
    assert [(h["from_state"], h["to_state"], h["actor"], h["reason"]) for h in history] == [
        ("procured", "provisioned", "a-operator", "to provisioned"),
        ("provisioned", "deployed", "a-operator", "to deployed"),
        ("deployed", "maintenance", "a-operator", "to maintenance"),
    ]


@pytest.mark.parametrize("role", Role.values)
def test_transition_per_role(world, api, plain_type, role):
    device = make_device(
        world.a.org, site=world.a.sites[0], device_type=plain_type, state=S.DEPLOYED
    )
    response = api(world.a.user(role)).post(
        reverse("device-transition", args=[device.pk]), {"to": "quarantined", "reason": "alert"}
    )
    allowed = {Role.ADMIN, Role.SECURITY_OFFICER, Role.OPERATOR}
    assert response.status_code == (200 if role in allowed else 403), response.content
    device.refresh_from_db()
    assert (device.state == S.QUARANTINED) == (role in allowed)


def test_transition_of_other_tenant_is_not_found(world, api):
    theirs = make_device(world.b.org, site=world.b.sites[0])
    response = api(world.a.user(Role.ADMIN)).post(
        reverse("device-transition", args=[theirs.pk]), {"to": "provisioned", "reason": "x"}
    )
    assert response.status_code == 404
    assert not LifecycleTransition.objects.filter(device=theirs).exists()


def test_token_rotation_shows_once_and_authenticates(world, api, device):
    client = api(world.a.user(Role.OPERATOR))
    response = client.post(reverse("device-token", args=[device.pk]))
    assert response.status_code == 200
    token = response.json()["token"]
    from devices.services import device_for_token

    assert device_for_token(token) == device
    detail = client.get(reverse("device-detail", args=[device.pk])).json()
    assert token not in str(detail) and detail["has_token"] is True
    assert (
        api(world.a.user(Role.TECHNICIAN))
        .post(reverse("device-token", args=[device.pk]))
        .status_code
        == 403
    )
    assert (
        api(world.a.user(Role.AUDITOR)).post(reverse("device-token", args=[device.pk])).status_code
        == 403
    )


def test_bulk_transition_reports_each_device(world, api, plain_type):
    ok = [make_device(world.a.org, site=world.a.sites[0], device_type=plain_type) for _ in range(2)]
    wrong_state = make_device(
        world.a.org, site=world.a.sites[0], device_type=plain_type, state=S.DEPLOYED
    )
    theirs = make_device(world.b.org, site=world.b.sites[0])
    client = api(world.a.user(Role.OPERATOR))
    url = reverse("device-bulk-transition")
    response = client.post(
        url, {"devices": [d.pk for d in [*ok, theirs]], "to": "provisioned", "reason": "r"}
    )
    assert response.status_code == 400 and str(theirs.pk) in response.json()["devices"][0]
    response = client.post(
        url, {"devices": [d.pk for d in [*ok, wrong_state]], "to": "provisioned", "reason": "batch"}
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["succeeded"], body["failed"]) == (2, 1)
    failed = next(r for r in body["results"] if not r["ok"])
    assert failed["id"] == wrong_state.pk and "Allowed next states" in failed["error"]
    assert all(Device.objects.get(pk=d.pk).state == S.PROVISIONED for d in ok)


def test_bulk_move(world, api, plain_type):
    devices = [
        make_device(world.a.org, site=world.a.sites[0], device_type=plain_type) for _ in range(3)
    ]
    target = world.a.sites[1]
    response = api(world.a.user(Role.OPERATOR)).post(
        reverse("device-bulk-move"),
        {"devices": [d.pk for d in devices], "site": target.pk, "reason": "reorg"},
    )
    assert response.status_code == 200 and response.json()["succeeded"] == 3
    assert set(
        Device.objects.filter(pk__in=[d.pk for d in devices]).values_list("site", flat=True)
    ) == {target.pk}
    assert AuditEntry.objects.filter(action="devices.device.move").count() == 3
    # Another tenant's site does not exist for this caller.
    response = api(world.a.user(Role.OPERATOR)).post(
        reverse("device-bulk-move"), {"devices": [devices[0].pk], "site": world.b.sites[0].pk}
    )
    assert response.status_code == 400
    # Technicians may not move, and the refusal is reported for the device.
    theirs = make_device(world.a.org, site=world.a.sites[0], device_type=plain_type)
    response = api(world.site_technician).post(
        reverse("device-bulk-move"), {"devices": [theirs.pk], "site": world.a.sites[0].pk}
    )
    assert response.json()["failed"] == 1
    assert "may not move" in response.json()["results"][0]["error"]


def test_filters_and_search(world, api, plain_type):
    a = make_device(
        world.a.org,
        site=world.a.sites[0],
        device_type=plain_type,
        name="pump-7",
        firmware_version="2.1.0",
        state=S.DEPLOYED,
    )
    b = make_device(
        world.a.org,
        site=world.a.sites[1],
        device_type=plain_type,
        name="meter-3",
        state=S.PROVISIONED,
    )
    b.tags.set([Tag.objects.create(organization=world.a.org, name="pilot")])
    client = api(world.a.user(Role.AUDITOR))

    def ids(**params):
        return {row["id"] for row in client.get(reverse("device-list"), params).json()["results"]}

    assert ids(state="deployed") == {a.pk}
    assert ids(site=world.a.sites[1].pk) == {b.pk}
    assert ids(tag="pilot") == {b.pk}
    assert ids(firmware_version="2.1.0") == {a.pk}
    assert ids(search="pump") == {a.pk}
    assert ids(q=b.uid) == {b.pk}
    assert ids(never_seen="true") == {a.pk, b.pk}
    assert ids(support_ended="true") == set()


def test_device_list_query_count_does_not_grow(
    world, api, django_assert_max_num_queries, plain_type
):
    client = api(world.a.user(Role.ADMIN))
    tag = Tag.objects.create(organization=world.a.org, name="x")
    for n in (5, 50):
        while Device.objects.count() < n:
            make_device(world.a.org, site=world.a.sites[0], device_type=plain_type).tags.add(tag)
        with django_assert_max_num_queries(12):
            response = client.get(reverse("device-list"), {"page_size": 100})
        assert len(response.json()["results"]) == n


def test_inventory(world, api):
    from datetime import date

    old = make_device_type(world.a.org, support_ends_on=date(2020, 1, 1))
    make_device(
        world.a.org,
        site=world.a.sites[0],
        device_type=old,
        state=S.DEPLOYED,
        firmware_version="1.0",
    )
    make_device(world.a.org, site=world.a.sites[0], device_type=old, state=S.DISPOSED)
    make_device(world.b.org, site=world.b.sites[0], device_type=make_device_type(world.b.org))
    body = api(world.a.user(Role.AUDITOR)).get(reverse("device-inventory")).json()
    assert body["total"] == 2 and body["in_service"] == 1
    assert body["support_ended"]["count"] == 1
    assert {s["state"]: s["count"] for s in body["by_state"]} == {"deployed": 1, "disposed": 1}
    assert body["by_firmware"] == [
        {
            "device_type": old.pk,
            "type_name": f"Acme {old.model}",
            "firmware_version": "1.0",
            "count": 1,
        }
    ]
