"""One rollout driven by several people (and the driver) at once, with real threads on
PostgreSQL: start, pause, resume, abort and wave approval have exactly one winner, the loser gets
the service's clear refusal, counts stay exact, nothing deadlocks."""

import itertools

import pytest
from rest_framework.test import APIClient

from devices.firmware import services
from devices.firmware.choices import RolloutStatus, UpdateStatus, WaveStatus
from devices.firmware.models import DeviceUpdate
from devices.firmware.services.manifests import current_offer
from encompass.audit.models import AuditEntry
from encompass.audit.services import verify_chain
from encompass.events.models import Event
from encompass.tenancy.roles import Role
from encompass.testing.concurrency import race, refusals, run_threads, winners
from encompass.testing.factories import make_device_type
from encompass.testing.firmware import approved, deployed_devices, register_vendor, use_tmp_media

from .conftest import report

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.faults]


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    use_tmp_media(settings, tmp_path)


@pytest.fixture
def release(world):
    sensor = make_device_type(world.a.org, manufacturer="Acme", model="Meter-9")
    vendor = register_vendor(world.a)
    approved(world.a, vendor, [sensor], "1.0.0", 1)
    return approved(world.a, vendor, [sensor], "1.1.0", 2), sensor


def draft(world, release, sensor, n, **settings):
    devices = deployed_devices(world.a, sensor, n)
    rollout = services.create_rollout(
        organization=world.a.org,
        release=release,
        device_type=sensor,
        name="race",
        actor=world.a.user(Role.OPERATOR),
        max_start_delay_seconds=0,
        soak_minutes=0,
        **settings,
    )
    return rollout, devices


def audits(rollout, action):
    return AuditEntry.objects.filter(
        action=f"firmware.rollout.{action}", object_id=str(rollout.pk)
    ).count()


def one_winner(outcomes, errors, field="status"):
    assert not errors, errors
    assert len(winners(outcomes)) == 1, outcomes
    for refusal in refusals(outcomes):
        assert field in refusal.message_dict, refusal


def test_start_pause_resume_abort_each_have_one_winner(world, release):
    release, sensor = release
    rollout, _ = draft(world, release, sensor, 8, waves=[{"percent": 100}])
    operator, officer = world.a.user(Role.OPERATOR), world.a.user(Role.SECURITY_OFFICER)

    outcomes, errors = race(*[lambda: services.start_rollout(rollout, actor=operator)] * 3)
    one_winner(outcomes, errors)
    assert DeviceUpdate.objects.filter(rollout=rollout).count() == 8  # planned once
    assert audits(rollout, "start") == 1
    assert Event.objects.filter(kind="rollout.started").count() == 1

    def pause(who):
        return lambda: services.pause_rollout(rollout, actor=who, reason=f"{who} looks")

    outcomes, errors = race(pause(operator), pause(officer), pause(operator))
    one_winner(outcomes, errors)
    assert audits(rollout, "pause") == 1

    resume = lambda: services.resume_rollout(rollout, actor=operator, reason="fine")  # noqa: E731
    outcomes, errors = race(resume, resume, resume)
    one_winner(outcomes, errors)
    assert audits(rollout, "resume") == 1
    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.RUNNING

    open_before = DeviceUpdate.objects.filter(
        rollout=rollout, status__in=[UpdateStatus.PENDING, UpdateStatus.OFFERED]
    ).count()
    abort = lambda: services.abort_rollout(rollout, actor=officer, reason="stop")  # noqa: E731
    outcomes, errors = race(abort, abort, abort)
    one_winner(outcomes, errors)
    report("concurrent-rollout-actions", sent=12, won=4, errors=len(errors))
    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.ABORTED
    assert rollout.status_reason == f"stop ({open_before} pending updates cancelled)"
    assert audits(rollout, "abort") == 1
    assert DeviceUpdate.objects.filter(rollout=rollout, status=UpdateStatus.CANCELLED).count() == (
        open_before
    )
    assert verify_chain(str(world.a.org.pk)).ok


def test_pause_racing_abort_and_resume_serialize(world, release):
    release, sensor = release
    rollout, _ = draft(world, release, sensor, 4, waves=[{"percent": 100}])
    operator = world.a.user(Role.OPERATOR)
    services.start_rollout(rollout, actor=operator)
    # pause and abort at once: abort wins whichever runs first; a pause after it is refused
    outcomes, errors = race(
        lambda: services.pause_rollout(rollout, actor=operator, reason="look"),
        lambda: services.abort_rollout(rollout, actor=operator, reason="stop"),
        lambda: services.resume_rollout(rollout, actor=operator, reason="go"),
    )
    assert not errors, errors
    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.ABORTED
    # each audit entry's "before" is the status the previous one left: one chain, no lost write
    entries = AuditEntry.objects.filter(
        object_id=str(rollout.pk), action__startswith="firmware.rollout."
    ).order_by("pk")
    chain = [e.changes["status"] for e in entries if "status" in (e.changes or {})]
    for (_, after), (before, _) in itertools.pairwise(chain):
        assert after == before, chain
    assert chain[-1][1] == RolloutStatus.ABORTED
    assert len(winners(outcomes)) == len(chain) - 1  # minus the start


def test_racing_wave_approvals_start_the_next_wave_once(world, release):
    release, sensor = release
    rollout, _ = draft(
        world, release, sensor, 5, waves=[{"count": 1}, {"percent": 100}], manual_approval=True
    )
    operator = world.a.user(Role.OPERATOR)
    rollout = services.start_rollout(rollout, actor=operator)
    first = DeviceUpdate.objects.get(rollout=rollout, wave__number=1).device
    update = current_offer(first)
    for status in ("downloading", "installing", "rebooting", "succeeded"):
        services.report_update_status(first, update_id=update.pk, status=status)
    services.record_reported_firmware(first, version="1.1.0", security_version=2)
    services.advance_rollout(rollout)
    assert rollout.wave_set.get(number=1).status == WaveStatus.AWAITING_APPROVAL

    approve = lambda: services.approve_wave(rollout, actor=operator, note="canary ok")  # noqa: E731
    outcomes, errors = race(approve, approve, approve, lambda: services.advance_rollout(rollout))
    assert not errors, errors
    approvals = outcomes[:3]
    assert len(winners(approvals)) == 1, approvals
    for refusal in refusals(approvals):
        assert "wave" in refusal.message_dict
    report("concurrent-wave-approval", sent=3, won=len(winners(approvals)), errors=len(errors))
    assert audits(rollout, "approve_wave") == 1
    waves = {w.number: w.status for w in rollout.wave_set.all()}
    assert waves == {1: WaveStatus.COMPLETED, 2: WaveStatus.RUNNING}
    second = DeviceUpdate.objects.filter(rollout=rollout, wave__number=2)
    assert second.count() == 4
    assert second.filter(status=UpdateStatus.PENDING).count() == 4  # offered at their next poll
    assert Event.objects.filter(kind="rollout.wave_started").count() == 2


def test_two_clients_posting_the_same_action_get_one_200(world, release):
    release, sensor = release
    rollout, _ = draft(world, release, sensor, 3, waves=[{"percent": 100}])
    services.start_rollout(rollout, actor=world.a.user(Role.OPERATOR))
    users = [world.a.user(Role.OPERATOR), world.a.user(Role.SECURITY_OFFICER)]

    def post(i):
        client = APIClient()
        client.force_authenticate(users[i])
        response = client.post(
            f"/api/v1/rollouts/{rollout.pk}/pause/", {"reason": f"{i} looks"}, format="json"
        )
        return response.status_code, response.json()

    results, errors = run_threads(2, post)
    assert not errors, errors
    codes = sorted(code for code, _ in results)
    report("concurrent-rollout-pause-api", sent=2, codes=codes)
    assert codes == [200, 400], results
    refused = next(body for code, body in results if code == 400)
    assert "paused rollout cannot be paused" in str(refused["status"])
    assert audits(rollout, "pause") == 1
