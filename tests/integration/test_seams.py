"""Seams the journey passes by quickly, pinned one by one: the 403 of a device out of service,
anonymised telemetry in monitoring's read paths, and the decommissioning revoker run for an
Operator."""

import pytest
from channels.db import database_sync_to_async
from cryptography import x509
from django.test import Client
from django.utils import timezone

from devices.choices import LifecycleState
from devices.decommissioning import decide_retention, revoke_credentials
from devices.identity import services as identity
from devices.identity.models import DeviceCertificate
from devices.monitoring.models import Alert
from devices.services import rotate_device_token, transition_device
from encompass.audit.models import AuditEntry
from encompass.events.models import Event
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device, make_device_type

from .fleet import FieldDevice, ok, staff

pytestmark = pytest.mark.django_db


def _token_client(device, tenant):
    from rest_framework.test import APIClient

    _device, token = rotate_device_token(device, actor=tenant.user(Role.ADMIN))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Device {token}")
    return client


def _telemetry(client, value, n):
    return client.post(
        "/api/device/v1/events",
        [
            {
                "id": f"t-{n}",
                "kind": "telemetry",
                "occurred_at": timezone.now().isoformat(),
                "payload": {"metrics": {"temp_c": value}},
            }
        ],
        format="json",
    )


def test_quarantined_token_device_is_refused_403_and_alerted(world):
    """A device without certificates keeps its token through quarantine: the device API answers
    403 (out of service), records the refusal and raises one counted alert."""
    dt = make_device_type(world.a.org, supports_certificates=False)
    device = make_device(
        world.a.org, site=world.a.sites[0], device_type=dt, state=LifecycleState.DEPLOYED
    )
    client = _token_client(device, world.a)
    assert _telemetry(client, 20, 1).status_code == 200
    transition_device(
        device,
        LifecycleState.QUARANTINED,
        actor=world.a.user(Role.SECURITY_OFFICER),
        reason="beaconing",
    )
    for n in (2, 3):
        response = _telemetry(client, 20, n)
        assert response.status_code == 403, response.content
    assert not Event.objects.filter(device=device, event_id__in=["t-2", "t-3"]).exists()
    assert Event.objects.filter(device=device, kind="security.refused_device").count() == 2
    assert Alert.objects.get(device=device, kind="device.refused").count == 2


def _retire(device, tenant, decision):
    officer = tenant.user(Role.SECURITY_OFFICER)
    transition_device(device, LifecycleState.DECOMMISSIONING, actor=officer, reason="retired")
    decide_retention(device, actor=officer, decision=decision, justification="minimisation")


def test_anonymised_telemetry_does_not_break_monitoring_reads(world):
    """After an anonymise decision telemetry rows have no device: the dashboard, the device live
    page of another device, the events API and websocket replay still answer."""
    dt = make_device_type(world.a.org, supports_certificates=False)
    retired, live = (
        make_device(world.a.org, site=world.a.sites[0], device_type=dt, state="deployed")
        for _ in range(2)
    )
    for device, value in ((retired, 30), (live, 31)):
        assert _telemetry(_token_client(device, world.a), value, device.pk).status_code == 200
    _retire(retired, world.a, "anonymise")
    orphan = Event.objects.get(kind="device.telemetry", device__isnull=True)
    assert orphan.payload == {"metrics": {"temp_c": 30}}

    operator = world.a.user(Role.OPERATOR)
    web = Client()
    web.force_login(operator)
    for url in ("/monitoring/", f"/monitoring/devices/{live.pk}/", "/monitoring/alerts/"):
        response = web.get(url)
        assert response.status_code == 200, (url, response.status_code)
    api = staff(operator)
    rows = ok(api.get("/api/v1/events/", {"kind": "device.telemetry"}))["results"]
    assert orphan.pk in [r["id"] for r in rows]
    assert ok(api.get(f"/api/v1/events/{orphan.pk}/"))["device"] is None
    assert ok(api.get("/api/v1/events/", {"device": live.pk}))["results"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_anonymised_telemetry_replays_over_the_websocket():
    from encompass.testing.world import build_world
    from tests.events.conftest import connect, next_message, subscribe

    world = await database_sync_to_async(build_world)()

    def setup():
        dt = make_device_type(world.a.org, supports_certificates=False)
        device = make_device(world.a.org, site=world.a.sites[0], device_type=dt, state="deployed")
        _telemetry(_token_client(device, world.a), 30, 1)
        since = Event.objects.order_by("pk").first().pk - 1
        _retire(device, world.a, "anonymise")
        return since

    since = await database_sync_to_async(setup)()
    comm, connected = await connect(world.a.user(Role.OPERATOR))
    assert connected
    answer = await subscribe(comm, "organization", world.a.org.pk, since=since)
    assert answer["type"] == "subscribed" and answer["replayed"] >= 1, answer
    replayed = await next_message(
        comm, lambda m: m["type"] == "event" and m["event"]["kind"] == "device.telemetry"
    )
    assert replayed["event"]["device"] is None
    await comm.disconnect()


def test_operator_completes_credentials_item_revoking_certificates(world):
    """Decommissioning revocation is platform work on the device's behalf: an Operator (who may
    not revoke certificates by hand) completes the item; identity revokes, audited as theirs."""
    operator = world.a.user(Role.OPERATOR)
    identity.create_certificate_authority(organization=world.a.org, actor=world.a.user("admin"))
    device = make_device(world.a.org, site=world.a.sites[0], state=LifecycleState.PROVISIONED)
    _token, plaintext = identity.create_enrollment_token(device, actor=operator)
    field = FieldDevice(device.uid)
    serial = field.enroll(plaintext)["serial"]
    transition_device(device, LifecycleState.DECOMMISSIONING, actor=operator, reason="retired")
    checklist = revoke_credentials(device, actor=operator, reason="retired")
    assert checklist.credentials_revoked_by == operator
    assert checklist.credentials_revoked_count == 1
    cert = DeviceCertificate.objects.get(serial_hex=serial)
    assert cert.revoked_at is not None
    entry = AuditEntry.objects.filter(action="identity.devicecertificate.revoke").get()
    assert entry.actor_id == operator.pk, (entry.actor_label, entry.action)
    crl = x509.load_pem_x509_crl(Client().get(f"/pki/{world.a.org.slug}/crl.pem").content)
    assert crl.get_revoked_certificate_by_serial_number(int(serial, 16)) is not None
