import pytest

from devices.choices import LifecycleState
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device, make_device_type
from incidents.services import declare_incident


@pytest.fixture
def officer(world):
    return world.a.user(Role.SECURITY_OFFICER)


@pytest.fixture
def incident(world, officer):
    return declare_incident(
        organization=world.a.org,
        title="Sensors talking to an unknown host",
        severity="high",
        category="malware",
        actor=officer,
    )


@pytest.fixture
def deployed(world):
    # A type without certificates: release from quarantine needs no enrolment here.
    kind = make_device_type(world.a.org, supports_certificates=False)
    return make_device(
        world.a.org, site=world.a.sites[0], device_type=kind, state=LifecycleState.DEPLOYED
    )


def raise_test_alert(org, device=None, severity="high", key="test", kind="security.auth_failures"):
    from devices.monitoring.services import raise_alert

    alert, _ = raise_alert(
        organization=org,
        kind=kind,
        title=f"Alert {key}",
        severity=severity,
        dedupe_key=key,
        device=device,
    )
    return alert
