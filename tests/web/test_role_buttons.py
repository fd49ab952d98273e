"""Per role: the buttons a role may not use are not drawn (the services refuse them anyway --
their own tests show that). Each expectation is read from the model's role table, so the page
and the service cannot drift apart."""

import pytest
from django.urls import reverse

from devices.firmware import services as firmware
from devices.firmware.models import FirmwareRelease, Rollout
from devices.identity.models import EnrollmentToken
from devices.models import Device
from encompass.tenancy.access import allowed_roles
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device_type
from encompass.testing.firmware import approved, deployed_devices, register_vendor
from encompass.testing.web import web
from risk.models import Vulnerability

pytestmark = pytest.mark.django_db

ROLES = sorted(Role.values)


def allowed(model, action, role):
    return role in allowed_roles(model, action)


@pytest.fixture
def rollout(world):
    sensor = make_device_type(world.a.org, manufacturer="Acme", model="Meter-9")
    vendor = register_vendor(world.a)
    release = approved(world.a, vendor, [sensor], "1.1.0", 2)
    deployed_devices(world.a, sensor, 2)
    return firmware.create_rollout(
        organization=world.a.org,
        release=release,
        device_type=sensor,
        name="Spring",
        actor=world.a.user(Role.OPERATOR),
        waves=[{"count": 1}, {"percent": 100}],
    )


@pytest.mark.parametrize("role", ROLES)
def test_firmware_pages(world, rollout, role, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client = web(world.a.user(role))
    releases = client.get(reverse("firmware_ui:releases")).content.decode()
    assert ("Upload a signed release" in releases) == allowed(FirmwareRelease, "add", role)
    page = client.get(reverse("firmware_ui:rollout", args=[rollout.pk])).content.decode()
    for verb, action in [
        ("start", "start"),
        ("pause", "pause"),
        ("resume", "resume"),
        ("approve-wave", "approve_wave"),
        ("abort", "abort"),
        ("rollback", "rollback"),
    ]:
        label = f'formaction="{reverse("firmware_ui:rollout_action", args=[rollout.pk, verb])}"'
        assert (label in page) == allowed(Rollout, action, role), (role, label)


@pytest.mark.parametrize("role", ROLES)
def test_lists_offer_only_permitted_creation(world, role):
    client = web(world.a.user(role))
    devices = client.get(reverse("devices_ui:list")).content.decode()
    assert ("Import CSV" in devices) == allowed(Device, "add", role)
    vulns = client.get(reverse("risk_ui:vulnerabilities")).content.decode()
    assert ("Import a feed" in vulns) == allowed(Vulnerability, "add", role)
    identity = client.get(reverse("identity_ui:overview")).content.decode()
    assert ("New enrollment token" in identity) == allowed(EnrollmentToken, "add", role)


def test_auditor_sees_no_action_buttons_anywhere_it_reads(world, rollout):
    client = web(world.a.user(Role.AUDITOR))
    for url in (
        reverse("monitoring_ui:alerts"),
        reverse("devices_ui:list"),
        reverse("firmware_ui:releases"),
        reverse("firmware_ui:rollout", args=[rollout.pk]),
        reverse("identity_ui:overview"),
        reverse("risk_ui:vulnerabilities"),
    ):
        html = client.get(url).content.decode()
        forms = html.count('method="post"')
        # Only the sign-out form and the organization switcher post.
        assert forms == html.count('action="/account/sign-out/"') + html.count(
            'class="org-switcher"'
        ), url
