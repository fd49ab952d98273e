import pytest

from devices.choices import Health, LifecycleState
from devices.monitoring import demo
from devices.monitoring.choices import AlertStatus, RuleKind
from devices.monitoring.models import Alert, AlertRule, MetricBaseline
from encompass.demo import DemoContext, DemoOrg
from encompass.events.models import Event
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device, make_device_type

pytestmark = pytest.mark.django_db


def _ctx(tenant, devices):
    org = DemoOrg(
        org=tenant.org, sites=tenant.sites, users={r: tenant.user(r) for r in Role.values}
    )
    return DemoContext(
        orgs=[org], credentials=[], data={"devices": {tenant.org.slug: devices}}, log=lambda m: None
    )


def test_demo_seed_rules_history_and_alerts(world):
    kind = make_device_type(world.a.org, heartbeat_interval=60, supports_certificates=False)
    devices = [
        make_device(
            world.a.org,
            site=world.a.sites[0],
            device_type=kind,
            state=LifecycleState.DEPLOYED,
            firmware_version="1.1.0" if n else "1.0.0",
        )
        for n in range(4)
    ]
    retired = make_device(world.a.org, device_type=kind, state=LifecycleState.PROCURED)
    demo.seed(_ctx(world.a, [*devices, retired]))

    rules = AlertRule.objects.filter(organization=world.a.org)
    assert set(rules.values_list("kind", flat=True)) == {
        RuleKind.THRESHOLD,
        RuleKind.ANOMALY,
        RuleKind.ABSENCE,
        RuleKind.SECURITY_COUNT,
        RuleKind.FIRMWARE_MISMATCH,
        RuleKind.CERTIFICATE_EXPIRY,
    }
    assert rules.get(kind=RuleKind.FIRMWARE_MISMATCH).expected_firmware == "1.1.0"  # majority
    assert set(rules.filter(kind=RuleKind.THRESHOLD).values_list("metric", flat=True)) <= set(
        demo.METRICS
    )
    # history went through ingest: events per device, learned baselines, real health
    assert not Event.objects.filter(device=retired).exists()
    for device in devices:
        assert Event.objects.filter(device=device, kind="device.heartbeat").count() >= 24
        device.refresh_from_db()
    assert MetricBaseline.objects.filter(device=devices[0], samples__gte=30).exists()
    assert [d.health for d in devices] == [
        Health.ONLINE,
        Health.ONLINE,
        Health.OFFLINE,
        Health.ONLINE,
    ]

    open_alerts = Alert.objects.filter(organization=world.a.org, status=AlertStatus.OPEN)
    by_device = {(a.kind, a.device_id) for a in open_alerts}
    assert ("rule.threshold", devices[0].pk) in by_device
    assert ("rule.security_count", devices[1].pk) in by_device
    assert ("rule.absence", devices[2].pk) in by_device
    assert ("rule.firmware_mismatch", devices[0].pk) in by_device  # runs 1.0.0
    assert not Alert.objects.filter(organization=world.b.org).exists()
