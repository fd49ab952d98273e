"""Many devices reporting at once: counts stay exact, a device's own racing reports serialize."""

import threading

import pytest
from django.db import close_old_connections, connection

from devices.firmware import services
from devices.firmware.choices import RolloutStatus, UpdateStatus
from devices.firmware.models import DeviceUpdate
from devices.firmware.services.manifests import current_offer
from devices.firmware.services.progress import counts_by_wave
from encompass.audit.services import verify_chain
from encompass.tenancy.roles import Role

from .conftest import deployed_devices

pytestmark = pytest.mark.django_db(transaction=True)


def run_threads(targets):
    errors = []
    barrier = threading.Barrier(len(targets))

    def wrap(func):
        try:
            barrier.wait()
            func()
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=wrap, args=(t,)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    close_old_connections()
    return errors


def test_concurrent_status_reports_keep_counts_exact(world, releases, sensor):
    _old, new = releases
    devices = deployed_devices(world.a, sensor, 12)
    rollout = services.create_rollout(
        organization=world.a.org,
        release=new,
        device_type=sensor,
        name="race",
        actor=world.a.user(Role.OPERATOR),
        waves=[{"percent": 100}],
        max_start_delay_seconds=0,
        failure_threshold=50,
    )
    rollout = services.start_rollout(rollout, actor=world.a.user(Role.OPERATOR))
    updates = {}
    for device in devices:
        device.refresh_from_db()
        updates[device.pk] = current_offer(device).pk

    def reporter(device, status, reason=""):
        return lambda: services.report_update_status(
            device, update_id=updates[device.pk], status=status, reason=reason
        )

    # every device reports "installing" twice at the same moment (a retry racing the original)
    errors = run_threads([reporter(d, "installing") for d in devices for _ in range(2)])
    assert not errors, errors
    assert DeviceUpdate.objects.filter(status=UpdateStatus.INSTALLING).count() == 12

    # then 4 fail and 8 report success, all at once
    jobs = [reporter(d, "failed", "disk full") for d in devices[:4]]
    jobs += [reporter(d, "succeeded") for d in devices[4:]]
    errors = run_threads(jobs)
    assert not errors, errors
    counts = counts_by_wave(rollout)[rollout.wave_set.get().pk]
    assert counts["failed"] == 4
    assert counts["in_progress"] == 8  # reported success, awaiting the healthy heartbeat
    assert counts["total"] == 12

    # heartbeats on the new version, concurrently
    errors = run_threads(
        [
            (lambda d=d: services.record_reported_firmware(d, version="1.1.0", security_version=2))
            for d in devices[4:]
        ]
    )
    assert not errors, errors
    counts = counts_by_wave(rollout)[rollout.wave_set.get().pk]
    assert counts["succeeded"] == 8 and counts["failed"] == 4
    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.RUNNING, "4/12 = 33% is under the 50% threshold"
    assert verify_chain(str(world.a.org.pk)).ok


def test_concurrent_failures_pause_once(world, releases, sensor):
    _old, new = releases
    devices = deployed_devices(world.a, sensor, 6)
    rollout = services.create_rollout(
        organization=world.a.org,
        release=new,
        device_type=sensor,
        name="race-2",
        actor=world.a.user(Role.OPERATOR),
        waves=[{"percent": 100}],
        max_start_delay_seconds=0,
        failure_threshold=10,
    )
    services.start_rollout(rollout, actor=world.a.user(Role.OPERATOR))
    ids = {}
    for device in devices:
        device.refresh_from_db()
        ids[device.pk] = current_offer(device).pk
    errors = run_threads(
        [
            (
                lambda d=d: services.report_update_status(
                    d, update_id=ids[d.pk], status="failed", reason="boom"
                )
            )
            for d in devices
        ]
    )
    assert not errors, errors
    services.advance_rollout(rollout)
    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.PAUSED
    from encompass.audit.models import AuditEntry

    assert (
        AuditEntry.objects.filter(
            action="firmware.rollout.pause", object_id=str(rollout.pk)
        ).count()
        == 1
    )
