import datetime

import pytest
from django.utils import timezone

from devices.choices import LifecycleState
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device, make_device_type
from risk import services


@pytest.fixture
def officer(world):
    return world.a.user(Role.SECURITY_OFFICER)


@pytest.fixture
def gateway_type(world):
    return make_device_type(world.a.org, manufacturer="Acme", model="Gateway-9")


@pytest.fixture
def fleet(world, gateway_type):
    """Four gateways of A: 1.9.0, 2.0.5, 2.4.1 and one with an unparseable version."""
    org = world.a.org
    return {
        "old": make_device(
            org, device_type=gateway_type, firmware_version="1.9.0", state=LifecycleState.DEPLOYED
        ),
        "mid": make_device(
            org, device_type=gateway_type, firmware_version="2.0.5", state=LifecycleState.DEPLOYED
        ),
        "new": make_device(
            org, device_type=gateway_type, firmware_version="2.4.1", state=LifecycleState.DEPLOYED
        ),
        "odd": make_device(
            org,
            device_type=gateway_type,
            firmware_version="build-7731",
            state=LifecycleState.DEPLOYED,
        ),
    }


@pytest.fixture
def vuln(world, officer, gateway_type):
    return services.create_vulnerability(
        actor=officer,
        organization=world.a.org,
        identifier="CVE-2026-10001",
        title="Heap overflow in the gateway web server",
        cvss_vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        affected=[
            {"device_type": gateway_type, "introduced_version": "2.0.0", "fixed_version": "2.4.0"}
        ],
    )


@pytest.fixture
def make_risk(world, officer):
    def make(tenant=None, **kwargs):
        tenant = tenant or world.a
        kwargs.setdefault("title", "Gateway takeover")
        kwargs.setdefault("scenario", "An attacker exploits the web server and pivots.")
        kwargs.setdefault("likelihood", 4)
        kwargs.setdefault("impact", 4)
        return services.create_risk(
            actor=tenant.user(Role.SECURITY_OFFICER), organization=tenant.org, **kwargs
        )

    return make


def in_days(days):
    return timezone.now() + datetime.timedelta(days=days)
