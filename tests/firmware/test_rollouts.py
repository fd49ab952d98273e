"""The rollout engine: waves, thresholds, soak, approval, windows, the reboot-health rule,
pause / resume / abort / rollback, and the hooks other apps call."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from devices.choices import LifecycleState
from devices.firmware import services
from devices.firmware.choices import RolloutStatus, UpdateStatus, WaveStatus
from devices.firmware.models import DeviceUpdate, Rollout
from devices.firmware.services.engine import advance_rollout
from devices.firmware.services.manifests import current_offer
from devices.firmware.services.planning import wave_sizes
from devices.monitoring.models import Alert
from encompass.audit.models import AuditEntry
from encompass.events.models import Event
from encompass.exceptions import NotPermitted
from encompass.tenancy.roles import Role

from .conftest import deployed_devices

pytestmark = pytest.mark.django_db
LATER = datetime.timedelta(hours=2)


def make_rollout(world, release, device_type, start=True, **settings):
    settings.setdefault("max_start_delay_seconds", 0)
    settings.setdefault("soak_minutes", 0)
    rollout = services.create_rollout(
        organization=world.a.org,
        release=release,
        device_type=device_type,
        name="rollout",
        actor=world.a.user(Role.OPERATOR),
        **settings,
    )
    if start:
        rollout = services.start_rollout(rollout, actor=world.a.user(Role.OPERATOR))
    return rollout


def offered(device):
    device.refresh_from_db()
    return current_offer(device)


def install(device, *, ok=True, heartbeat=True):
    """What a device does with an offered update; returns the DeviceUpdate."""
    update = offered(device)
    assert update is not None, f"{device} was not offered an update"
    for status in ("downloading", "installing", "rebooting"):
        services.report_update_status(device, update_id=update.pk, status=status)
    if not ok:
        services.report_update_status(
            device, update_id=update.pk, status="failed", reason="flash write error"
        )
    else:
        services.report_update_status(device, update_id=update.pk, status="succeeded")
        if heartbeat:
            services.record_reported_firmware(
                device,
                version=update.release.version,
                security_version=update.release.security_version,
            )
    update.refresh_from_db()
    return update


def wave_of(rollout, number):
    return rollout.wave_set.get(number=number)


def test_wave_sizes_are_cumulative_and_never_empty():
    assert wave_sizes(
        [{"percent": 1}, {"percent": 10}, {"percent": 50}, {"percent": 100}], 200
    ) == [2, 18, 80, 100]
    assert wave_sizes([{"percent": 1}, {"percent": 10}, {"percent": 100}], 10) == [1, 9]
    assert wave_sizes([{"count": 2}, {"count": 3}, {"percent": 100}], 20) == [2, 3, 15]


def test_wave_spec_errors_name_the_field(world, releases, sensor):
    _old, new = releases
    for bad in (
        [],
        [{"percent": 50}],
        [{"percent": 50}, {"percent": 10}, {"percent": 100}],
        [{"size": 3}, {"percent": 100}],
        [{"count": 0}, {"percent": 100}],
    ):
        with pytest.raises(ValidationError) as info:
            make_rollout(world, new, sensor, start=False, waves=bad)
        assert "waves" in info.value.message_dict
    assert not Rollout.objects.exists()


def test_only_approved_releases_of_the_same_organization_roll_out(world, releases, sensor):
    from encompass.testing.factories import make_device_type

    from .conftest import approved, image, register_vendor

    b_type = make_device_type(world.b.org)
    b_release = approved(world.b, register_vendor(world.b), [b_type], "5.0.0", 1, data=image("b"))
    with pytest.raises(ValidationError) as info:
        make_rollout(world, b_release, sensor, start=False)
    assert "release" in info.value.message_dict


def test_waves_advance_on_success_and_the_rollout_completes(world, releases, sensor):
    _old, new = releases
    devices = deployed_devices(world.a, sensor, 10)
    rollout = make_rollout(
        world,
        new,
        sensor,
        waves=[{"percent": 10}, {"percent": 50}, {"percent": 100}],
        success_threshold=100,
    )
    assert [w.planned for w in rollout.wave_set.all()] == [1, 4, 5]
    assert rollout.status == RolloutStatus.RUNNING
    first = [d for d in devices if offered(d)]
    assert len(first) == 1, "only the canary is offered the release"
    install(first[0])
    advance_rollout(rollout)
    assert wave_of(rollout, 1).status == WaveStatus.COMPLETED
    assert wave_of(rollout, 2).status == WaveStatus.RUNNING
    for number in (2, 3):
        for update in DeviceUpdate.objects.filter(rollout=rollout, wave__number=number):
            install(update.device)
        advance_rollout(rollout)
    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.COMPLETED
    assert DeviceUpdate.objects.filter(rollout=rollout, status=UpdateStatus.SUCCEEDED).count() == 10
    kinds = set(Event.objects.filter(kind__startswith="rollout.").values_list("kind", flat=True))
    assert {
        "rollout.started",
        "rollout.wave_advanced",
        "rollout.device_update",
        "rollout.completed",
    } <= kinds
    assert AuditEntry.objects.filter(action="firmware.rollout.complete").exists()


def test_reboot_health_rule(world, releases, sensor):
    """Success is counted only after a healthy heartbeat on the new version within the deadline."""
    _old, new = releases
    a, b, c, d = deployed_devices(world.a, sensor, 4)
    rollout = make_rollout(
        world,
        new,
        sensor,
        waves=[{"percent": 100}],
        health_deadline_minutes=10,
        failure_threshold=100,
    )
    no_heartbeat = install(a, heartbeat=False)
    assert no_heartbeat.status == UpdateStatus.REPORTED_SUCCESS
    assert no_heartbeat.health_deadline is not None
    healthy = install(b)
    assert healthy.status == UpdateStatus.SUCCEEDED and healthy.healthy_at is not None
    # c reports success but its bootloader fell back to the old image
    came_back_old = install(c, heartbeat=False)
    services.record_reported_firmware(c, version="1.0.0", security_version=1)
    came_back_old.refresh_from_db()
    assert came_back_old.status == UpdateStatus.FAILED
    assert "came back on 1.0.0" in came_back_old.failure_reason
    # d heartbeats the new version but says it is unhealthy: not confirmed
    unhealthy = install(d, heartbeat=False)
    services.record_reported_firmware(d, version="1.1.0", security_version=2, healthy=False)
    unhealthy.refresh_from_db()
    assert unhealthy.status == UpdateStatus.REPORTED_SUCCESS
    advance_rollout(rollout, now=timezone.now() + datetime.timedelta(minutes=11))
    no_heartbeat.refresh_from_db()
    assert no_heartbeat.status == UpdateStatus.TIMED_OUT
    assert "no healthy heartbeat" in no_heartbeat.failure_reason


def test_heartbeat_before_the_success_report_also_confirms(world, releases, sensor):
    _old, new = releases
    device = deployed_devices(world.a, sensor, 1)[0]
    make_rollout(world, new, sensor, waves=[{"percent": 100}])
    update = offered(device)
    services.report_update_status(device, update_id=update.pk, status="rebooting")
    services.record_reported_firmware(device, version="1.1.0", security_version=2)
    services.report_update_status(device, update_id=update.pk, status="succeeded")
    update.refresh_from_db()
    assert update.status == UpdateStatus.SUCCEEDED


def test_silent_device_times_out_and_counts_as_failure(world, releases, sensor):
    _old, new = releases
    devices = deployed_devices(world.a, sensor, 2)
    rollout = make_rollout(
        world,
        new,
        sensor,
        waves=[{"percent": 100}],
        update_timeout_minutes=30,
        failure_threshold=40,
    )
    for device in devices:
        offered(device)
    install(devices[0])
    advance_rollout(rollout, now=timezone.now() + datetime.timedelta(minutes=31))
    rollout.refresh_from_db()
    assert DeviceUpdate.objects.get(device=devices[1]).status == UpdateStatus.TIMED_OUT
    assert rollout.status == RolloutStatus.PAUSED
    assert "failed" in rollout.status_reason


def test_failure_threshold_pauses_at_once_and_resume_accepts_the_failures(world, releases, sensor):
    _old, new = releases
    devices = deployed_devices(world.a, sensor, 10)
    rollout = make_rollout(
        world, new, sensor, waves=[{"percent": 100}], failure_threshold=10, success_threshold=80
    )
    install(devices[0], ok=False)
    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.RUNNING, "1 of 10 is not above 10%"
    install(devices[1], ok=False)
    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.PAUSED, "2 of 10 is above 10%: paused by the report"
    assert wave_of(rollout, 1).status == WaveStatus.FAILED
    assert offered(devices[2]) is None, "a paused rollout offers nothing"
    assert Event.objects.filter(kind="rollout.paused").exists()
    with pytest.raises(NotPermitted):
        services.resume_rollout(rollout, actor=world.a.user(Role.AUDITOR), reason="go")
    services.resume_rollout(rollout, actor=world.a.user(Role.OPERATOR), reason="bad batch of SD")
    assert wave_of(rollout, 1).accepted_failures == 2
    for device in devices[2:]:
        install(device)
    advance_rollout(rollout)
    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.COMPLETED


def test_failure_action_abort(world, releases, sensor):
    _old, new = releases
    devices = deployed_devices(world.a, sensor, 4)
    rollout = make_rollout(
        world,
        new,
        sensor,
        waves=[{"percent": 50}, {"percent": 100}],
        failure_threshold=0,
        failure_action="abort",
    )
    first = next(d for d in devices if offered(d))
    install(first, ok=False)
    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.ABORTED
    statuses = set(
        DeviceUpdate.objects.filter(rollout=rollout, wave__number=2).values_list(
            "status", flat=True
        )
    )
    assert statuses == {UpdateStatus.CANCELLED}


def test_abort_by_hand(world, releases, sensor):
    _old, new = releases
    devices = deployed_devices(world.a, sensor, 3)
    rollout = make_rollout(world, new, sensor, waves=[{"percent": 100}])
    offered(devices[0])
    with pytest.raises(ValidationError):
        services.abort_rollout(rollout, actor=world.a.user(Role.OPERATOR), reason="")
    services.abort_rollout(rollout, actor=world.a.user(Role.SECURITY_OFFICER), reason="bad image")
    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.ABORTED
    assert not DeviceUpdate.objects.filter(
        rollout=rollout, status__in=[UpdateStatus.PENDING, UpdateStatus.OFFERED]
    ).exists()
    assert offered(devices[1]) is None
    with pytest.raises(ValidationError):
        services.resume_rollout(rollout, actor=world.a.user(Role.OPERATOR), reason="oops")


def test_soak_time_and_manual_approval_between_waves(world, releases, sensor):
    _old, new = releases
    deployed_devices(world.a, sensor, 4)
    rollout = make_rollout(
        world,
        new,
        sensor,
        waves=[{"count": 1}, {"percent": 100}],
        soak_minutes=30,
        manual_approval=True,
    )
    install(DeviceUpdate.objects.get(rollout=rollout, wave__number=1).device)
    advance_rollout(rollout)
    assert wave_of(rollout, 1).status == WaveStatus.SOAKING
    advance_rollout(rollout, now=timezone.now() + datetime.timedelta(minutes=10))
    assert wave_of(rollout, 1).status == WaveStatus.SOAKING
    advance_rollout(rollout, now=timezone.now() + datetime.timedelta(minutes=31))
    assert wave_of(rollout, 1).status == WaveStatus.AWAITING_APPROVAL
    advance_rollout(rollout, now=timezone.now() + LATER)
    assert wave_of(rollout, 2).status == WaveStatus.PENDING
    with pytest.raises(NotPermitted):
        services.approve_wave(rollout, actor=world.a.user(Role.AUDITOR))
    services.approve_wave(rollout, actor=world.a.user(Role.OPERATOR), note="canary fine")
    assert wave_of(rollout, 1).status == WaveStatus.COMPLETED
    assert wave_of(rollout, 2).status == WaveStatus.RUNNING


def test_maintenance_window_and_random_start_delay(world, releases, sensor):
    _old, new = releases
    device = deployed_devices(world.a, sensor, 1)[0]
    now = timezone.now()
    closed = (now + datetime.timedelta(hours=3)).time().replace(microsecond=0)
    closes = (now + datetime.timedelta(hours=4)).time().replace(microsecond=0)
    rollout = make_rollout(
        world,
        new,
        sensor,
        waves=[{"percent": 100}],
        window_start=closed,
        window_end=closes,
        max_start_delay_seconds=600,
    )
    update = DeviceUpdate.objects.get(rollout=rollout)
    assert now <= update.not_before <= now + datetime.timedelta(seconds=601)
    device.refresh_from_db()
    assert current_offer(device, now=now + datetime.timedelta(seconds=601)) is None
    assert current_offer(device, now=now + datetime.timedelta(hours=3, minutes=30)) is not None


def test_rollback_offers_the_previous_release_where_security_allows(world, vendor, sensor):
    from .conftest import approved

    old = approved(world.a, vendor, [sensor], "1.0.0", 1)
    new = approved(world.a, vendor, [sensor], "1.1.0", 1)
    a, b, c = deployed_devices(world.a, sensor, 3)
    rollout = make_rollout(world, new, sensor, waves=[{"percent": 100}], success_threshold=100)
    install(a)
    install(b)
    # b has meanwhile run something with a higher security version: it cannot go back to sv 1
    services.record_reported_firmware(b, version="1.1.0", security_version=4)
    back = services.rollback_rollout(
        rollout, actor=world.a.user(Role.OPERATOR), reason="battery drain on 1.1.0"
    )
    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.ROLLED_BACK
    assert back.rollback_of_id == rollout.pk and back.release == old
    assert back.status == RolloutStatus.RUNNING
    assert list(back.updates.values_list("device_id", flat=True)) == [a.pk]
    assert DeviceUpdate.objects.get(rollout=rollout, device=c).status == UpdateStatus.CANCELLED
    assert offered(a).release == old
    entry = AuditEntry.objects.get(action="firmware.rollout.create", object_id=str(back.pk))
    assert entry.changes["kept_for_security_version"] == [b.pk]


def test_rollback_needs_an_earlier_release(world, releases, sensor):
    old, _new = releases
    deployed_devices(world.a, sensor, 1, version="0.9.0", security_version=0)
    rollout = make_rollout(world, old, sensor, waves=[{"percent": 100}])
    with pytest.raises(ValidationError) as info:
        services.rollback_rollout(rollout, actor=world.a.user(Role.OPERATOR), reason="x")
    assert "release" in info.value.message_dict


def test_downgrade_report_raises_a_security_alert_and_keeps_the_high_water_mark(world, sensor):
    device = deployed_devices(world.a, sensor, 1, security_version=3)[0]
    services.record_reported_firmware(device, version="0.5.0", security_version=1)
    device.refresh_from_db()
    assert device.firmware_version == "0.5.0"
    assert device.firmware_security_version == 3
    alert = Alert.objects.get(kind="firmware.downgrade", device=device)
    assert alert.source == "firmware" and alert.severity == "critical"


def test_unknown_firmware_is_flagged(world, releases, sensor):
    device = deployed_devices(world.a, sensor, 1)[0]
    services.record_reported_firmware(device, version="6.6.6-custom", security_version=1)
    assert Alert.objects.filter(kind="firmware.unexpected", device=device).exists()
    services.record_reported_firmware(device, version="1.1.0", security_version=2)
    assert Alert.objects.filter(kind="firmware.unexpected").count() == 1


def test_heartbeat_listener_reads_heartbeat_events(world, releases, sensor):
    from encompass.events.models import Event as E

    device = deployed_devices(world.a, sensor, 1)[0]
    services.on_ingest(
        device,
        [
            E(kind="device.telemetry", payload={"firmware_version": "ignored"}),
            E(
                kind="device.heartbeat",
                payload={"firmware_version": "1.1.0", "security_version": 2},
            ),
        ],
    )
    device.refresh_from_db()
    assert (device.firmware_version, device.firmware_security_version) == ("1.1.0", 2)


def test_containment_pauses_rollouts_touching_the_devices(world, releases, sensor):
    _old, new = releases
    devices = deployed_devices(world.a, sensor, 2)
    rollout = make_rollout(world, new, sensor, waves=[{"percent": 100}])
    paused = services.pause_rollouts_for_devices(
        [devices[0]], actor="job:incident-containment", reason="incident #4"
    )
    assert [r.pk for r in paused] == [rollout.pk]
    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.PAUSED
    services.resume_rollout(rollout, actor=world.a.user(Role.SECURITY_OFFICER), reason="contained")


def test_decommissioning_remover_cancels_open_updates(world, releases, sensor):
    from devices.lifecycle import rollout_removers

    _old, new = releases
    devices = deployed_devices(world.a, sensor, 2)
    make_rollout(world, new, sensor, waves=[{"percent": 100}])
    assert services.remove_device_from_rollouts in rollout_removers()
    assert services.remove_device_from_rollouts(devices[0], actor="x", reason="retired") == 1
    assert services.remove_device_from_rollouts(devices[0], actor="x", reason="retired") == 0
    devices[0].state = LifecycleState.DECOMMISSIONING
    assert DeviceUpdate.objects.get(device=devices[0]).status == UpdateStatus.CANCELLED


def test_revoking_the_release_aborts_its_rollouts(world, releases, sensor):
    _old, new = releases
    deployed_devices(world.a, sensor, 2)
    rollout = make_rollout(world, new, sensor, waves=[{"percent": 100}])
    services.revoke_release(new, actor=world.a.user(Role.SECURITY_OFFICER), reason="CVE found")
    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.ABORTED


def test_status_reports_are_validated(world, releases, sensor):
    _old, new = releases
    device, other = deployed_devices(world.a, sensor, 2)
    make_rollout(world, new, sensor, waves=[{"percent": 100}])
    update = offered(device)

    def report(**kw):
        with pytest.raises(ValidationError) as info:
            services.report_update_status(device, **kw)
        return info.value.message_dict

    assert "status" in report(update_id=update.pk, status="exploded")
    assert "reason" in report(update_id=update.pk, status="failed")
    other_update = DeviceUpdate.objects.get(device=other)
    assert "update_id" in report(update_id=other_update.pk, status="downloading")
    services.report_update_status(device, update_id=update.pk, status="installing")
    services.report_update_status(device, update_id=update.pk, status="installing")  # retry
    assert "status" in report(update_id=update.pk, status="downloading")
