"""Every transition path of the table, every refusal, quarantine release, and the single winner
of concurrent conflicting transitions."""

import itertools
import threading

import pytest
from django.db import connection

from devices.choices import (
    STATE_COLOURS,
    TRANSITION_TABLE,
    TRANSITIONS,
    LifecycleState,
    allowed_targets,
)
from devices.decommissioning import start_checklist
from devices.models import Device, LifecycleTransition
from devices.services import available_transitions, transition_device
from encompass.audit.models import AuditEntry
from encompass.events.models import Event
from encompass.exceptions import NotPermitted, ValidationError
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device, make_device_type
from tests.devices.helpers import complete_checklist

S = LifecycleState
pytestmark = pytest.mark.django_db


def _prepare(device, transition, actor):
    """Satisfy the guards a transition has (the guard tests check each one refuses)."""
    if transition.target in (S.DECOMMISSIONED, S.DISPOSED):
        Device.objects.filter(pk=device.pk).update(state=S.DECOMMISSIONING)
        start_checklist(device, transition, actor="test", reason="set-up")
        complete_checklist(device, actor, upto="retention")
        Device.objects.filter(pk=device.pk).update(state=transition.source)
        if transition.target == S.DISPOSED:
            complete_checklist(device, actor, upto="disposal")
    if transition.source == S.QUARANTINED:
        Device.objects.filter(pk=device.pk).update(quarantined_from=transition.target)
    device.refresh_from_db()


def test_every_state_has_a_label_and_a_colour():
    for state in S:
        assert state.label and STATE_COLOURS[state].startswith("#")


@pytest.mark.parametrize("rule", TRANSITIONS, ids=lambda t: f"{t.source}->{t.target}")
def test_every_allowed_transition_works_and_is_recorded(world, plain_type, rule):
    device = make_device(
        world.a.org, site=world.a.sites[0], device_type=plain_type, state=rule.source
    )
    role = sorted(rule.roles)[0]
    actor = world.a.user(role)
    _prepare(device, rule, world.a.user(Role.ADMIN))
    transition_device(device, rule.target, actor=actor, reason=f"testing {rule.description}")
    device.refresh_from_db()
    assert device.state == rule.target
    record = LifecycleTransition.objects.get(device=device, to_state=rule.target)
    assert (record.from_state, record.actor, record.actor_label) == (
        rule.source,
        actor,
        actor.username,
    )
    assert record.reason == f"testing {rule.description}"
    assert AuditEntry.objects.filter(
        action="devices.device.transition", object_id=str(device.pk)
    ).exists()
    event = Event.objects.get(device=device, kind="device.lifecycle")
    assert event.payload["from"] == rule.source and event.payload["to"] == rule.target


@pytest.mark.parametrize("source", list(S))
def test_every_illegal_transition_is_refused_naming_the_allowed_ones(world, plain_type, source):
    device = make_device(world.a.org, site=world.a.sites[0], device_type=plain_type, state=source)
    illegal = [t for t in S if (source, t) not in TRANSITION_TABLE]
    assert illegal
    for target in illegal:
        with pytest.raises(ValidationError) as err:
            transition_device(device, target, actor=world.a.user(Role.ADMIN), reason="try")
        message = " ".join(err.value.messages)
        assert message.startswith(
            f"A {S(source).label.lower()} device cannot become {S(target).label.lower()}."
        )
        names = ", ".join(S(t).label for t in allowed_targets(source)) or "none"
        assert message.endswith(f"Allowed next states: {names}.")
        device.refresh_from_db()
        assert device.state == source
    assert not LifecycleTransition.objects.filter(device=device).exists()


@pytest.mark.parametrize("rule", TRANSITIONS, ids=lambda t: f"{t.source}->{t.target}")
def test_roles_outside_the_table_are_refused(world, plain_type, rule):
    device = make_device(
        world.a.org, site=world.a.sites[0], device_type=plain_type, state=rule.source
    )
    for role in set(Role.values) - set(rule.roles):
        with pytest.raises(NotPermitted):
            transition_device(device, rule.target, actor=world.a.user(role), reason="not mine")
    device.refresh_from_db()
    assert device.state == rule.source


def test_other_tenant_and_outsider_cannot_transition(world, device):
    for actor in (world.b.user(Role.ADMIN), world.outsider):
        with pytest.raises(NotPermitted):
            transition_device(device, S.PROVISIONED, actor=actor, reason="not theirs")
    device.refresh_from_db()
    assert device.state == S.PROCURED


def test_site_technician_only_on_own_site(world, plain_type):
    own = make_device(world.a.org, site=world.a.sites[0], device_type=plain_type)
    other = make_device(world.a.org, site=world.a.sites[1], device_type=plain_type)
    transition_device(own, S.PROVISIONED, actor=world.site_technician, reason="on site")
    with pytest.raises(NotPermitted):
        transition_device(other, S.PROVISIONED, actor=world.site_technician, reason="elsewhere")


def test_reason_is_required(world, device):
    with pytest.raises(ValidationError) as err:
        transition_device(device, S.PROVISIONED, actor=world.a.user(Role.ADMIN), reason="  ")
    assert "reason" in err.value.message_dict


def test_unknown_state_is_refused(world, device):
    with pytest.raises(ValidationError) as err:
        transition_device(device, "lost", actor=world.a.user(Role.ADMIN), reason="x")
    assert "to" in err.value.message_dict


def test_deploy_needs_a_site(world, plain_type):
    device = make_device(world.a.org, device_type=plain_type, state=S.PROVISIONED)
    with pytest.raises(ValidationError) as err:
        transition_device(device, S.DEPLOYED, actor=world.a.user(Role.ADMIN), reason="go")
    assert "site" in " ".join(err.value.messages)


def test_quarantine_remembers_and_releases_only_to_previous_state(world, plain_type):
    admin = world.a.user(Role.ADMIN)
    device = make_device(
        world.a.org, site=world.a.sites[0], device_type=plain_type, state=S.MAINTENANCE
    )
    transition_device(
        device, S.QUARANTINED, actor=world.a.user(Role.OPERATOR), reason="odd traffic"
    )
    device.refresh_from_db()
    assert device.quarantined_from == S.MAINTENANCE
    for wrong in (S.DEPLOYED, S.PROVISIONED):
        with pytest.raises(ValidationError) as err:
            transition_device(device, wrong, actor=admin, reason="release")
        assert "Maintenance" in " ".join(err.value.messages)
    # The refusal message for a quarantined device names only where it can really go.
    with pytest.raises(ValidationError) as err:
        transition_device(device, S.DISPOSED, actor=admin, reason="x")
    assert err.value.messages[0].endswith("Allowed next states: Maintenance, Decommissioning.")
    with pytest.raises(NotPermitted):  # operators quarantine; only security releases
        transition_device(device, S.MAINTENANCE, actor=world.a.user(Role.OPERATOR), reason="ok")
    transition_device(
        device, S.MAINTENANCE, actor=world.a.user(Role.SECURITY_OFFICER), reason="clean"
    )
    device.refresh_from_db()
    assert (device.state, device.quarantined_from) == (S.MAINTENANCE, "")


def test_quarantined_device_may_go_on_to_decommissioning(world, plain_type):
    device = make_device(
        world.a.org, site=world.a.sites[0], device_type=plain_type, state=S.DEPLOYED
    )
    officer = world.a.user(Role.SECURITY_OFFICER)
    transition_device(device, S.QUARANTINED, actor=officer, reason="compromised")
    transition_device(device, S.DECOMMISSIONING, actor=officer, reason="not worth saving")
    device.refresh_from_db()
    assert device.state == S.DECOMMISSIONING
    assert device.decommissioning.started_by_label == officer.username


def test_system_job_may_transition_with_a_label(world, device):
    transition_device(device, S.PROVISIONED, actor="job:provisioner", reason="auto", system=True)
    record = LifecycleTransition.objects.get(device=device)
    assert (record.actor, record.actor_label) == (None, "job:provisioner")


def test_available_transitions_say_what_the_actor_may_do(world, plain_type):
    device = make_device(world.a.org, device_type=plain_type, state=S.PROVISIONED)
    options = {o["to"]: o for o in available_transitions(device, world.a.user(Role.TECHNICIAN))}
    assert set(options) == {S.DEPLOYED, S.QUARANTINED, S.DECOMMISSIONING}
    assert options[S.DEPLOYED]["permitted"] and options[S.DEPLOYED]["blocked_by"]  # no site
    assert not options[S.QUARANTINED]["permitted"]
    auditor = available_transitions(device, world.a.user(Role.AUDITOR))
    assert not any(o["permitted"] for o in auditor)


def test_history_reads_back_in_order(world, plain_type):
    admin = world.a.user(Role.ADMIN)
    device = make_device(world.a.org, site=world.a.sites[0], device_type=plain_type)
    path = [S.PROVISIONED, S.DEPLOYED, S.MAINTENANCE, S.DEPLOYED]
    for i, target in enumerate(path):
        transition_device(device, target, actor=admin, reason=f"step {i}")
    rows = list(device.transitions.order_by("created_at", "pk"))
    assert [r.to_state for r in rows] == path
    assert [r.reason for r in rows] == [f"step {i}" for i in range(4)]


def test_certificate_types_still_obey_registered_guards(world):
    """The deploy guard list is open: a registered guard refuses with its own message."""
    from devices import lifecycle

    def needs_paperwork(device, transition):
        return "File the paperwork first."

    lifecycle.register_guard(S.DEPLOYED, needs_paperwork)
    try:
        device = make_device(
            world.a.org,
            site=world.a.sites[0],
            device_type=make_device_type(world.a.org),
            state=S.PROVISIONED,
        )
        with pytest.raises(ValidationError) as err:
            transition_device(device, S.DEPLOYED, actor=world.a.user(Role.ADMIN), reason="go")
        assert "File the paperwork first." in err.value.messages
    finally:
        lifecycle._guards[S.DEPLOYED].remove(needs_paperwork)


def _race(attempts):
    """Run ``attempts`` ([(device_id, target, actor, reason)]) at once, one thread each."""
    barrier = threading.Barrier(len(attempts))
    results = [None] * len(attempts)

    def attempt(i, device_id, target, actor, reason):
        try:
            barrier.wait()
            device = Device.objects.get(pk=device_id)
            transition_device(device, target, actor=actor, reason=reason)
            results[i] = "won"
        except ValidationError as exc:
            results[i] = exc.messages[0]
        except NotPermitted as exc:  # the winner's new state may be one this role cannot leave
            results[i] = str(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(i, *a)) for i, a in enumerate(attempts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert None not in results, results  # every attempt was answered, none died unexpectedly
    return results


@pytest.mark.django_db(transaction=True)
def test_concurrent_conflicting_transitions_have_exactly_one_winner(world, plain_type):
    """Four people take the same deployed device into maintenance at the same moment."""
    device = make_device(
        world.a.org, site=world.a.sites[0], device_type=plain_type, state=S.DEPLOYED
    )
    people = [Role.ADMIN, Role.OPERATOR, Role.TECHNICIAN, Role.ADMIN]
    results = _race([(device.pk, S.MAINTENANCE, world.a.user(r), f"{r} takes it") for r in people])
    assert results.count("won") == 1, results
    for outcome in results:
        if outcome != "won":
            assert outcome.startswith("A maintenance device cannot become maintenance.")
            assert "Allowed next states: Deployed, Quarantined, Decommissioning." in outcome
    device.refresh_from_db()
    assert device.state == S.MAINTENANCE
    assert LifecycleTransition.objects.filter(device=device).count() == 1
    assert Event.objects.filter(device=device, kind="device.lifecycle").count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_different_targets_serialize_into_one_consistent_history(world, plain_type):
    """Racing quarantine / maintenance / decommissioning: no lost update, an unbroken chain."""
    device = make_device(
        world.a.org, site=world.a.sites[0], device_type=plain_type, state=S.DEPLOYED
    )
    results = _race(
        [
            (device.pk, S.MAINTENANCE, world.a.user(Role.OPERATOR), "service"),
            (device.pk, S.QUARANTINED, world.a.user(Role.SECURITY_OFFICER), "alert"),
            (device.pk, S.DECOMMISSIONING, world.a.user(Role.ADMIN), "retire"),
        ]
    )
    rows = list(LifecycleTransition.objects.filter(device=device).order_by("created_at", "pk"))
    assert len(rows) == results.count("won") >= 1
    assert rows[0].from_state == S.DEPLOYED
    for before, after in itertools.pairwise(rows):
        assert after.from_state == before.to_state
    device.refresh_from_db()
    assert device.state == rows[-1].to_state
