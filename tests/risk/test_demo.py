import random

from devices.choices import LifecycleState
from devices.monitoring.models import Alert
from encompass.demo import DemoContext, DemoOrg
from encompass.testing.factories import make_device, make_device_type
from risk import demo, services
from risk.models import Mitigation, Risk, Vulnerability


def test_demo_register_is_believable(world):
    org = world.a.org
    types = []
    for device_class, model, versions in (
        ("gateway", "EAGLE40", ["3.1.0", "3.2.4", "3.3.0"]),
        ("camera", "P3265", ["10.12.1", "11.2.0"]),
        ("controller", "S7-1200", ["4.5.0"]),
        ("sensor", "flowIQ", []),
    ):
        dt = make_device_type(org, model=model, device_class=device_class)
        types.append(dt)
        for version in versions or [""]:
            make_device(
                org,
                device_type=dt,
                firmware_version=version,
                criticality="critical",
                state=LifecycleState.DEPLOYED,
                site=world.a.sites[0],
            )
    ctx = DemoContext(
        orgs=[DemoOrg(org=org, sites=world.a.sites, users=world.a.users)],
        credentials=[],
        rng=random.Random(1),
        log=lambda m: None,
    )
    ctx.data = {"device_types": {org.slug: types}, "devices": {}}
    demo.seed(ctx)

    risks = Risk.objects.filter(organization=org)
    assert risks.count() == len(demo.RISKS)
    assert {r.inherent_level for r in risks} >= {"low", "medium", "high", "critical"}
    statuses = [r.effective_status for r in risks]
    assert statuses.count("accepted") == 1 and statuses.count("acceptance_expired") == 1
    assert Mitigation.objects.overdue().filter(organization=org).exists()
    gateway_vuln = Vulnerability.objects.get(organization=org, identifier="DEMO-2026-0001")
    affected = services.affected_devices(gateway_vuln, include_unverified=False)
    assert sorted(d.firmware_version for d in affected) == ["3.1.0", "3.2.4"]
    kinds = set(Alert.objects.filter(organization=org).values_list("kind", flat=True))
    assert {"risk.mitigation_overdue", "risk.acceptance_expired"} <= kinds
