import pytest

from devices import demo
from devices.choices import LifecycleState
from devices.models import Device
from encompass.demo import DemoContext, DemoOrg
from encompass.tenancy.roles import Role

S = LifecycleState


@pytest.mark.django_db
def test_demo_seed_builds_a_believable_fleet_through_the_services(world):
    tenant = world.a
    ctx = DemoContext(
        orgs=[
            DemoOrg(
                org=tenant.org,
                sites=tenant.sites,
                users=tenant.users,
                admin=tenant.user(Role.ADMIN),
            )
        ],
        credentials=[],
        log=lambda message: None,
    )
    demo.seed(ctx)
    devices = Device.objects.filter(organization=tenant.org)
    assert 30 <= devices.count() <= 40
    states = set(devices.values_list("state", flat=True))
    assert {
        S.PROCURED,
        S.PROVISIONED,
        S.DEPLOYED,
        S.MAINTENANCE,
        S.QUARANTINED,
        S.DECOMMISSIONING,
        S.DISPOSED,
    } <= states
    to_deploy = ctx.data["devices_to_deploy"][tenant.org.slug]
    assert to_deploy and all(
        d.state == S.PROVISIONED and d.device_type.supports_certificates for d in to_deploy
    )
    disposed = devices.get(state=S.DISPOSED)
    assert disposed.decommissioning.complete
    assert [t.to_state for t in disposed.transitions.order_by("created_at", "pk")][-1] == S.DISPOSED
