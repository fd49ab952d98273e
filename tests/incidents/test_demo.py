import pytest

from devices.choices import LifecycleState
from encompass.demo import DemoContext, DemoOrg
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device, make_device_type
from incidents import demo
from incidents.models import Incident

pytestmark = pytest.mark.django_db


def test_demo_seed_builds_an_open_and_a_closed_incident(world):
    kind = make_device_type(world.a.org, supports_certificates=False)
    devices = [
        make_device(
            world.a.org, site=world.a.sites[0], device_type=kind, state=LifecycleState.DEPLOYED
        )
        for _ in range(3)
    ]
    org = DemoOrg(
        org=world.a.org, sites=world.a.sites, users={r: world.a.user(r) for r in Role.values}
    )
    ctx = DemoContext(
        orgs=[org],
        credentials=[],
        data={"devices": {world.a.org.slug: devices}},
        log=lambda *a: None,
    )
    demo.seed(ctx)
    open_one, closed = Incident.objects.order_by("number")
    assert open_one.phase == "containment" and open_one.tasks.filter(done=True).count() == 4
    assert open_one.source_alerts.count() == 1
    devices[0].refresh_from_db()
    assert devices[0].state == LifecycleState.QUARANTINED
    assert closed.phase == "closed" and closed.review.is_complete
