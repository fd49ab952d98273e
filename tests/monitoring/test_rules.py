"""Each alert rule kind, dedupe, auto-resolve, and the minute job."""

import datetime

import pytest
from django.utils import timezone

from devices.choices import Health
from devices.models import Device
from devices.monitoring.choices import AlertStatus, RuleKind
from devices.monitoring.health import refresh_health
from devices.monitoring.models import Alert, AlertRule, MetricBaseline
from devices.monitoring.rules import evaluate_scheduled
from encompass.events.models import Event
from encompass.testing.factories import make_device

from .conftest import item

pytestmark = pytest.mark.django_db


def rule(org, kind, **fields):
    defaults = {"name": f"{kind} rule {AlertRule.objects.count()}", "severity": "high"}
    defaults.update(fields)
    r = AlertRule(organization=org, kind=kind, **defaults)
    r.full_clean()
    r.save()
    return r


def alert_for(r, device):
    return Alert.objects.filter(dedupe_key=r.dedupe_key(device)).order_by("-pk").first()


def temp(value, at=None):
    return item("telemetry", {"metrics": {"temp_c": value}}, at=at)


def test_threshold_raises_dedupes_and_auto_resolves(world, reporter):
    r = rule(world.a.org, RuleKind.THRESHOLD, metric="temp_c", comparison="gt", threshold=80)
    reporter.post([temp(20), temp(21)])
    assert alert_for(r, reporter.device) is None
    reporter.post([temp(85), temp(90)])
    alert = alert_for(r, reporter.device)
    assert alert.status == AlertStatus.OPEN and alert.count == 1
    assert alert.details["value"] == 90 and alert.details["breaches"] == 2
    reporter.post([temp(95)])
    alert.refresh_from_db()
    assert alert.count == 2  # one open alert per cause, counted
    assert Alert.objects.filter(dedupe_key=r.dedupe_key(reporter.device)).count() == 1
    reporter.post([temp(30)])
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED and alert.auto_resolved


def test_rule_without_auto_resolve_stays_open(world, reporter):
    r = rule(
        world.a.org,
        RuleKind.THRESHOLD,
        metric="temp_c",
        comparison="lt",
        threshold=0,
        auto_resolve=False,
    )
    reporter.post([temp(-5)])
    reporter.post([temp(10)])
    assert alert_for(r, reporter.device).status == AlertStatus.OPEN


def test_rule_filters_by_site_type_and_tag(world, make_reporter):
    from devices.models import Tag

    tag = Tag.objects.create(organization=world.a.org, name="pilot")
    r = rule(
        world.a.org, RuleKind.THRESHOLD, metric="temp_c", comparison="gt", threshold=50, tag=tag
    )
    tagged, untagged = make_reporter(), make_reporter()
    tagged.device.tags.add(tag)
    tagged.post([temp(60)])
    untagged.post([temp(60)])
    assert alert_for(r, tagged.device) is not None
    assert alert_for(r, untagged.device) is None
    other_tenant = make_reporter(world.b)
    other_tenant.post([temp(99)])
    assert not Alert.objects.filter(device=other_tenant.device).exists()


def test_rate_of_change(world, reporter):
    r = rule(world.a.org, RuleKind.RATE_OF_CHANGE, metric="temp_c", threshold=5)
    now = timezone.now()
    minute = datetime.timedelta(minutes=1)
    reporter.post([temp(20, now - 3 * minute), temp(22, now - 2 * minute)])
    assert alert_for(r, reporter.device) is None
    reporter.post([temp(40, now - minute)])  # +18 per minute
    alert = alert_for(r, reporter.device)
    assert alert.status == AlertStatus.OPEN and alert.details["rate_per_minute"] == pytest.approx(
        18
    )
    reporter.post([temp(41, now)])
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED


def test_anomaly_against_the_devices_own_normal(world, make_reporter):
    r = rule(world.a.org, RuleKind.ANOMALY, metric="temp_c", sigma=4, min_samples=20)
    warm, cold = make_reporter(), make_reporter()
    warm.post([temp(50 + (i % 5) * 0.5) for i in range(40)])
    cold.post([temp(5 + (i % 5) * 0.5) for i in range(40)])
    baseline = MetricBaseline.objects.get(device=warm.device, metric="temp_c")
    assert baseline.samples == 40 and baseline.mean == pytest.approx(51, abs=0.01)
    warm.post([temp(51.5)])
    cold.post([temp(6)])
    assert alert_for(r, warm.device) is None and alert_for(r, cold.device) is None
    cold.post([temp(50)])  # normal for the warm device, far outside the cold one's
    assert alert_for(r, cold.device).details["sigma"] > 4
    assert alert_for(r, warm.device) is None


def test_anomaly_waits_for_enough_samples(world, reporter):
    r = rule(world.a.org, RuleKind.ANOMALY, metric="temp_c", sigma=3, min_samples=30)
    reporter.post([temp(20 + (i % 2)) for i in range(10)])
    reporter.post([temp(500)])
    assert alert_for(r, reporter.device) is None


def test_security_count_in_window_and_clearing(world, reporter):
    r = rule(
        world.a.org, RuleKind.SECURITY_COUNT, signal="auth_failure", count=3, window_minutes=10
    )
    fail = lambda: item("security", {"signal": "auth_failure", "detail": "bad password"})  # noqa: E731
    reporter.post([fail(), fail()])
    assert alert_for(r, reporter.device) is None
    reporter.post([item("security", {"signal": "port_scan"})])
    assert alert_for(r, reporter.device) is None
    reporter.post([fail()])
    alert = alert_for(r, reporter.device)
    assert alert.details["count"] == 3
    # the window passes: the minute job resolves it
    Event.objects.filter(device=reporter.device).update(
        received_at=timezone.now() - datetime.timedelta(minutes=11)
    )
    evaluate_scheduled()
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED


def test_firmware_mismatch(world, reporter):
    r = rule(world.a.org, RuleKind.FIRMWARE_MISMATCH, expected_firmware="2.1.0")
    reporter.post([item("heartbeat", {"firmware_version": "1.9.0"})])
    assert "1.9.0" in alert_for(r, reporter.device).title
    reporter.post([item("heartbeat", {"firmware_version": "2.1.0"})])
    assert alert_for(r, reporter.device).status == AlertStatus.RESOLVED


def test_absence_raised_by_job_and_resolved_on_report(world, reporter):
    r = rule(world.a.org, RuleKind.ABSENCE, window_minutes=5)
    reporter.post([item("heartbeat")])
    evaluate_scheduled()
    assert alert_for(r, reporter.device) is None
    Device.objects.filter(pk=reporter.device.pk).update(
        last_seen_at=timezone.now() - datetime.timedelta(minutes=6)
    )
    evaluate_scheduled()
    evaluate_scheduled()  # jobs can run twice
    alert = alert_for(r, reporter.device)
    assert alert.status == AlertStatus.OPEN and alert.count == 1
    reporter.post([item("heartbeat")])
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED


def test_rule_validation_names_the_field(world):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as exc:
        rule(world.a.org, RuleKind.THRESHOLD, metric="temp_c")
    assert {"comparison", "threshold"} <= set(exc.value.message_dict)
    with pytest.raises(ValidationError) as exc:
        rule(world.a.org, RuleKind.SECURITY_COUNT, signal="sneezing", count=2, window_minutes=5)
    assert "signal" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        rule(
            world.a.org,
            RuleKind.THRESHOLD,
            metric="t",
            comparison="gt",
            threshold=1,
            site=world.b.sites[0],
        )
    assert "site" in exc.value.message_dict


def test_offline_detection_by_the_health_job(world, make_reporter):
    fresh, late, gone = make_reporter(), make_reporter(), make_reporter()
    never = make_device(world.a.org, state="deployed")
    for r in (fresh, late, gone):
        r.post([item("heartbeat")])
    interval = fresh.device.device_type.heartbeat_interval
    now = timezone.now()
    Device.objects.filter(pk=late.device.pk).update(
        last_seen_at=now - datetime.timedelta(seconds=2 * interval)
    )
    Device.objects.filter(pk=gone.device.pk).update(
        last_seen_at=now - datetime.timedelta(seconds=10 * interval)
    )
    assert refresh_health(now) == 2
    assert refresh_health(now) == 0  # nothing changes twice
    health = dict(Device.objects.filter(organization=world.a.org).values_list("pk", "health"))
    assert health[fresh.device.pk] == Health.ONLINE
    assert health[late.device.pk] == Health.LATE
    assert health[gone.device.pk] == Health.OFFLINE
    assert health[never.pk] == Health.UNKNOWN
    change = Event.objects.get(
        device=gone.device, kind="device.health_changed", payload__to="offline"
    )
    assert change.payload["from"] == "online"
    gone.post([item("heartbeat")])
    gone.device.refresh_from_db()
    assert gone.device.health == Health.ONLINE
