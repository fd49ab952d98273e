"""Who may speak DDI for a target: target token, gateway token, proxy certificate -- and the
single 401 (plus a security event) for everything else."""

from urllib.parse import quote

import pytest
from rest_framework.test import APIClient

from devices.choices import LifecycleState
from devices.firmware.ddi.tokens import create_gateway_token, revoke_gateway_token
from devices.firmware.models import DeviceUpdate
from devices.identity import services as identity
from devices.services import rotate_device_token
from encompass.events.models import Event
from encompass.exceptions import NotPermitted, ValidationError
from encompass.tenancy.roles import Role
from tests.firmware.conftest import deployed_devices
from tests.identity.conftest import device_key, make_csr

from .conftest import base, ddi_client, running_rollout

pytestmark = pytest.mark.django_db


def client_with(header=None, **extra):
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header, **extra)
    elif extra:
        client.credentials(**extra)
    return client


def failures(device):
    return Event.objects.filter(kind="security.auth_failure", device=device)


def assert_refused(response):
    assert response.status_code == 401, response.content
    assert response.json() == {"detail": "Authentication failed."}


@pytest.fixture
def two_devices(world, sensor):
    from encompass.testing.factories import make_device_type

    mine = deployed_devices(world.a, sensor, 1)[0]
    theirs_type = make_device_type(world.b.org, manufacturer="Acme", model="Meter-9")
    theirs = deployed_devices(world.b, theirs_type, 1)[0]
    return mine, theirs


def test_no_credential_is_401_with_the_target_token_challenge(world, two_devices):
    mine, _theirs = two_devices
    response = APIClient().get(base(mine))
    assert response.status_code == 401 and response["WWW-Authenticate"] == "TargetToken"


def test_wrong_token_unknown_device_and_unknown_tenant_answer_alike(world, two_devices):
    mine, _theirs = two_devices
    bad = client_with("TargetToken dtk_abcdefgh_not-the-secret")
    assert_refused(bad.get(base(mine)))
    assert failures(mine).count() == 1  # the named target learns someone tried
    assert_refused(bad.get(f"/{mine.organization.slug}/controller/v1/dev_nosuchdevice"))
    assert_refused(bad.get(f"/no-such-org/controller/v1/{mine.uid}"))
    # A real token, the right device, but a tenant that is not its organization: same answer.
    good, _token = ddi_client(mine, world.a)
    assert_refused(good.get(f"/{world.b.org.slug}/controller/v1/{mine.uid}"))
    assert good.get(base(mine)).status_code == 200


def test_another_organizations_device_token_is_refused_and_recorded_on_both(world, two_devices):
    mine, theirs = two_devices
    client, _token = ddi_client(theirs, world.b)
    assert_refused(client.get(base(mine)))
    assert failures(mine).count() == 1 and failures(theirs).count() == 1
    event = failures(theirs).get()
    assert event.organization_id == world.b.org.pk
    assert mine.uid in event.payload["reason"]


def test_another_devices_token_cannot_read_or_report_its_actions(world, releases, sensor):
    first, second = deployed_devices(world.a, sensor, 2)
    running_rollout(world.a, releases[1], sensor)
    first_client, _t = ddi_client(first, world.a)
    first_client.get(base(first))
    update = DeviceUpdate.objects.get(device=first)
    second_client, _t = ddi_client(second, world.a)
    assert_refused(second_client.get(f"{base(first)}/deploymentBase/{update.pk}"))
    # its own URL with the other's action id: plainly not found
    assert second_client.get(f"{base(second)}/deploymentBase/{update.pk}").status_code == 404
    answer = second_client.post(
        f"{base(second)}/deploymentBase/{update.pk}/feedback",
        {"status": {"execution": "closed", "result": {"finished": "success"}}},
        format="json",
    )
    assert answer.status_code == 404
    update.refresh_from_db()
    assert update.status == "offered"


@pytest.mark.parametrize(
    "state", [LifecycleState.DECOMMISSIONED, LifecycleState.QUARANTINED, LifecycleState.DISPOSED]
)
def test_retired_or_quarantined_device_is_refused_with_a_security_event(world, sensor, state):
    device = deployed_devices(world.a, sensor, 1)[0]
    client, _token = ddi_client(device, world.a)
    type(device).objects.filter(pk=device.pk).update(state=state)
    assert_refused(client.get(base(device)))
    kinds = set(Event.objects.filter(device=device).values_list("kind", flat=True))
    expected = (
        "security.refused_device"
        if state == LifecycleState.QUARANTINED
        else "security.auth_failure"
    )
    assert expected in kinds


def test_gateway_token_speaks_for_its_organization_only(world, two_devices):
    mine, theirs = two_devices
    with pytest.raises(NotPermitted):
        create_gateway_token(
            organization=world.a.org, name="gw", actor=world.a.user(Role.TECHNICIAN)
        )
    row, token = create_gateway_token(
        organization=world.a.org, name="Site gateway", actor=world.a.user(Role.SECURITY_OFFICER)
    )
    with pytest.raises(ValidationError):
        create_gateway_token(
            organization=world.a.org, name="Site gateway", actor=world.a.user(Role.ADMIN)
        )
    assert row.token_hash != token and token.startswith("gwt_")
    gateway = client_with(f"GatewayToken {token}")
    assert gateway.get(base(mine)).status_code == 200
    assert gateway.get(f"/{world.a.org.slug}/controller/v1/dev_unknown").status_code == 404
    assert_refused(gateway.get(base(theirs)))
    assert failures(theirs).count() == 1
    assert_refused(client_with(f"GatewayToken {token}x").get(base(mine)))
    revoke_gateway_token(row, actor=world.a.user(Role.SECURITY_OFFICER), reason="gateway stolen")
    assert_refused(gateway.get(base(mine)))


def test_client_certificate_through_the_trusted_proxy(world, sensor):
    device = deployed_devices(world.a, sensor, 1)[0]
    identity.create_certificate_authority(
        organization=world.a.org, actor=world.a.user(Role.ADMIN), name="A devices"
    )
    _token, plaintext = identity.create_enrollment_token(device, actor=world.a.user(Role.OPERATOR))
    cert = identity.enroll(token=plaintext, csr_pem=make_csr(device_key(), device.uid))
    header = quote(cert.certificate_pem)
    proxy = client_with(HTTP_X_CLIENT_CERT=header, REMOTE_ADDR="127.0.0.1")
    assert proxy.get(base(device)).status_code == 200
    other = deployed_devices(world.a, sensor, 1)[0]
    assert_refused(proxy.get(base(other)))  # the certificate names another target
    direct = client_with(HTTP_X_CLIENT_CERT=header, REMOTE_ADDR="203.0.113.9")
    assert direct.get(base(device)).status_code == 401  # the header is ignored off-proxy


def test_brute_force_is_throttled(world, sensor, settings):
    device = deployed_devices(world.a, sensor, 1)[0]
    bad = client_with("TargetToken dtk_abcdefgh_guess")
    codes = [bad.get(base(device)).status_code for _ in range(25)]
    assert codes[0] == 401 and codes[-1] == 429
    _locked, token = rotate_device_token(device, actor=world.a.user(Role.ADMIN))
    # failures are refused, a valid credential from the same address is not (NAT-shared)
    assert client_with(f"TargetToken {token}").get(base(device)).status_code == 200
    assert bad.get(base(device)).status_code == 429


def _staff(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.parametrize(
    ("role", "allowed"),
    [(Role.SECURITY_OFFICER, True), (Role.ADMIN, True), (Role.OPERATOR, False),
     (Role.AUDITOR, False)],
)  # fmt: skip
def test_gateway_token_api_by_role(world, two_devices, role, allowed):
    mine, _theirs = two_devices
    api = _staff(world.a.user(role))
    answer = api.post(
        "/api/v1/ddi-gateway-tokens/", {"organization": world.a.org.pk, "name": "GW"}, format="json"
    )
    if not allowed:
        assert answer.status_code == 403, answer.content
        return
    assert answer.status_code == 201, answer.content
    token = answer.json()["token"]
    assert client_with(f"GatewayToken {token}").get(base(mine)).status_code == 200
    listed = api.get("/api/v1/ddi-gateway-tokens/").json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert [r["name"] for r in rows] == ["GW"] and "token" not in rows[0]
    revoked = api.post(f"/api/v1/ddi-gateway-tokens/{rows[0]['id']}/revoke/", {"reason": "lost"})
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert_refused(client_with(f"GatewayToken {token}").get(base(mine)))


def test_other_tenants_gateway_tokens_are_not_found(world):
    row, _token = create_gateway_token(
        organization=world.b.org, name="B gw", actor=world.b.user(Role.ADMIN)
    )
    api = _staff(world.a.user(Role.ADMIN))
    assert api.get(f"/api/v1/ddi-gateway-tokens/{row.pk}/").status_code == 404
    assert (
        api.post(f"/api/v1/ddi-gateway-tokens/{row.pk}/revoke/", {"reason": "x"}).status_code == 404
    )
    answer = api.post(
        "/api/v1/ddi-gateway-tokens/", {"organization": world.b.org.pk, "name": "x"}, format="json"
    )
    assert answer.status_code == 400 and "organization" in answer.json()
