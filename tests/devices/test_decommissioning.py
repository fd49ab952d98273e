"""The decommissioning checklist end to end: every item, its guards, refusals and the retention
decision actually carried out on the device's telemetry and logs."""

import pytest
from django.utils import timezone

from devices import decommissioning as dc
from devices import lifecycle
from devices.choices import DisposalMethod, LifecycleState, RetentionDecision, WipeMethod
from devices.decommissioning import anonymise_payload
from devices.models import DecommissioningChecklist
from devices.services import rotate_device_token, transition_device
from encompass.audit.models import AuditEntry
from encompass.events.models import Event
from encompass.events.services import record_event
from encompass.exceptions import NotPermitted, ValidationError
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device

S = LifecycleState
pytestmark = pytest.mark.django_db


@pytest.fixture
def retiring(world, plain_type):
    device = make_device(
        world.a.org, site=world.a.sites[0], device_type=plain_type, state=S.DEPLOYED
    )
    transition_device(
        device, S.DECOMMISSIONING, actor=world.a.user(Role.OPERATOR), reason="End of life"
    )
    return device


def test_entering_decommissioning_creates_the_checklist(world, retiring):
    checklist = DecommissioningChecklist.objects.get(device=retiring)
    assert checklist.started_by_label == "a-operator" and checklist.reason == "End of life"
    assert checklist.missing() == list(checklist.missing())  # all five
    assert len(checklist.missing()) == 5


def test_full_checklist_walk_with_hooks(world, retiring):
    operator, tech = world.a.user(Role.OPERATOR), world.a.user(Role.TECHNICIAN)
    rotate_device_token(retiring, actor=operator)
    calls = []

    def revoke_certs(device, *, actor, reason):
        calls.append(("certs", device.pk, reason))
        return 2

    def leave_rollouts(device, *, actor, reason):
        calls.append(("rollouts", device.pk, reason))
        return 1

    lifecycle.register_credential_revoker(revoke_certs)
    lifecycle.register_rollout_remover(leave_rollouts)
    try:
        # decommissioned is refused until the four items are done, naming what is missing
        with pytest.raises(ValidationError) as err:
            transition_device(retiring, S.DECOMMISSIONED, actor=operator, reason="done?")
        assert "credentials and certificates revoked" in err.value.messages[0]
        dc.revoke_credentials(retiring, actor=operator)
        dc.remove_from_rollouts(retiring, actor=operator)
        dc.attest_data_wipe(
            retiring,
            actor=tech,
            method=WipeMethod.CRYPTO_ERASE,
            attested_by="Tess Field",
            notes="keys zeroised",
        )
        with pytest.raises(ValidationError) as err:
            transition_device(retiring, S.DECOMMISSIONED, actor=operator, reason="done?")
        assert err.value.messages[0].endswith(
            "complete the decommissioning checklist: data retention decided."
        )
        dc.decide_retention(
            retiring,
            actor=operator,
            decision=RetentionDecision.KEEP,
            justification="Legal hold, case 12",
        )
        transition_device(retiring, S.DECOMMISSIONED, actor=operator, reason="all done")
        with pytest.raises(ValidationError) as err:
            transition_device(retiring, S.DISPOSED, actor=operator, reason="bin")
        assert "physical disposal recorded" in err.value.messages[0]
        dc.record_disposal(
            retiring,
            actor=tech,
            method=DisposalMethod.DESTROYED,
            certificate_reference="COD-77",
            handled_by="ShredCo",
        )
        transition_device(retiring, S.DISPOSED, actor=operator, reason="destroyed")
    finally:
        lifecycle._credential_revokers.remove(revoke_certs)
        lifecycle._rollout_removers.remove(leave_rollouts)
    retiring.refresh_from_db()
    checklist = retiring.decommissioning
    assert retiring.state == S.DISPOSED and checklist.complete
    assert retiring.token_hash == ""
    assert checklist.credentials_revoked_count == 3  # token + two certificates
    assert checklist.rollouts_removed_count == 1
    assert [c[0] for c in calls] == ["certs", "rollouts"]
    assert checklist.wipe_attested_by == "Tess Field" and checklist.data_wipe_recorded_by == tech
    assert checklist.disposal_certificate_reference == "COD-77"
    actions = list(
        AuditEntry.objects.filter(
            object_id=str(retiring.pk), action__startswith="devices.decommissioning"
        )
        .order_by("sequence")
        .values_list("action", flat=True)
    )
    assert actions == [
        "devices.decommissioning.credentials",
        "devices.decommissioning.rollouts",
        "devices.decommissioning.data_wipe",
        "devices.decommissioning.retention",
        "devices.decommissioning.disposal",
    ]
    # After disposal nothing more is recorded.
    with pytest.raises(ValidationError):
        dc.decide_retention(
            retiring, actor=operator, decision=RetentionDecision.DELETE, justification="later"
        )


def test_items_are_recorded_once(world, retiring):
    operator = world.a.user(Role.OPERATOR)
    dc.revoke_credentials(retiring, actor=operator)
    with pytest.raises(ValidationError) as err:
        dc.revoke_credentials(retiring, actor=operator)
    assert "Already recorded" in err.value.messages[0]


@pytest.mark.parametrize(
    "item,call,allowed",
    [
        (
            "credentials",
            lambda d, a: dc.revoke_credentials(d, actor=a),
            {Role.ADMIN, Role.OPERATOR, Role.SECURITY_OFFICER},
        ),
        (
            "data_wipe",
            lambda d, a: dc.attest_data_wipe(d, actor=a, method="factory_reset", attested_by="X"),
            {Role.ADMIN, Role.OPERATOR, Role.TECHNICIAN},
        ),
        (
            "retention",
            lambda d, a: dc.decide_retention(d, actor=a, decision="keep", justification="j"),
            {Role.ADMIN, Role.OPERATOR, Role.SECURITY_OFFICER},
        ),
    ],
)
@pytest.mark.parametrize("role", Role.values)
def test_item_roles(world, plain_type, item, call, allowed, role):
    device = make_device(
        world.a.org, site=world.a.sites[0], device_type=plain_type, state=S.DECOMMISSIONING
    )
    dc.start_checklist(device, None, actor="test", reason="")
    if role in allowed:
        assert call(device, world.a.user(role)).is_done(item)
    else:
        with pytest.raises(NotPermitted):
            call(device, world.a.user(role))
        assert not DecommissioningChecklist.objects.get(device=device).is_done(item)


def test_other_tenant_cannot_touch_the_checklist(world, retiring):
    with pytest.raises(NotPermitted):
        dc.revoke_credentials(retiring, actor=world.b.user(Role.ADMIN))


def test_bad_input_names_the_field_and_changes_nothing(world, retiring):
    operator = world.a.user(Role.OPERATOR)
    cases = [
        (
            lambda: dc.attest_data_wipe(retiring, actor=operator, method="magnet", attested_by="x"),
            "method",
        ),
        (
            lambda: dc.attest_data_wipe(retiring, actor=operator, method="purge", attested_by=" "),
            "attested_by",
        ),
        (
            lambda: dc.attest_data_wipe(
                retiring,
                actor=operator,
                method="purge",
                attested_by="x",
                wiped_on=timezone.localdate() + timezone.timedelta(days=2),
            ),
            "wiped_on",
        ),
        (
            lambda: dc.decide_retention(
                retiring, actor=operator, decision="sell", justification="x"
            ),
            "decision",
        ),
        (
            lambda: dc.decide_retention(
                retiring, actor=operator, decision="keep", justification=""
            ),
            "justification",
        ),
        (
            lambda: dc.record_disposal(
                retiring,
                actor=operator,
                method="recycled",
                certificate_reference="C",
                handled_by="H",
            ),
            "state",
        ),
    ]
    for call, field in cases:
        with pytest.raises(ValidationError) as err:
            call()
        assert field in err.value.message_dict, (field, err.value)
    assert DecommissioningChecklist.objects.get(
        device=retiring
    ).missing() == DecommissioningChecklist.objects.get(device=retiring).missing(None)
    assert len(DecommissioningChecklist.objects.get(device=retiring).missing()) == 5


def _telemetry(device, n=3):
    for i in range(n):
        record_event(
            "device.telemetry",
            organization=device.organization,
            device=device,
            payload={
                "temperature": 20 + i,
                "serial": "SN-1",
                "gps": {"lat": 51.5, "label": "roof"},
            },
            event_id=f"t{i}",
        )
    record_event(
        "device.log",
        organization=device.organization,
        device=device,
        payload={"line": "boot ok user=admin"},
    )


def test_retention_delete_removes_telemetry_and_logs_only(world, retiring):
    _telemetry(retiring)
    checklist = dc.decide_retention(
        retiring,
        actor=world.a.user(Role.OPERATOR),
        decision="delete",
        justification="GDPR minimisation",
    )
    assert checklist.retention_events_affected == 4
    assert not Event.objects.filter(
        device=retiring, kind__in=["device.telemetry", "device.log"]
    ).exists()
    assert Event.objects.filter(
        device=retiring, kind="device.lifecycle"
    ).exists()  # platform record stays


def test_retention_anonymise_detaches_and_keeps_numbers(world, retiring):
    _telemetry(retiring, n=2)
    kinds = ["device.telemetry", "device.log"]
    before = Event.objects.filter(kind__in=kinds).count()
    dc.decide_retention(
        retiring,
        actor=world.a.user(Role.OPERATOR),
        decision="anonymise",
        justification="Keep fleet statistics",
    )
    assert Event.objects.filter(kind__in=kinds).count() == before == 3
    assert not Event.objects.filter(device=retiring, kind="device.telemetry").exists()
    payloads = list(
        Event.objects.filter(device=None, kind="device.telemetry").values_list("payload", flat=True)
    )
    assert sorted(p["temperature"] for p in payloads) == [20, 21]
    assert all(p == {"temperature": p["temperature"], "gps": {"lat": 51.5}} for p in payloads)
    assert Event.objects.get(device=None, kind="device.log").payload == {}


def test_retention_may_only_become_stricter(world, retiring):
    operator = world.a.user(Role.OPERATOR)
    dc.decide_retention(retiring, actor=operator, decision="anonymise", justification="stats")
    with pytest.raises(ValidationError) as err:
        dc.decide_retention(retiring, actor=operator, decision="keep", justification="oops")
    assert "only become stricter" in err.value.messages[0]
    checklist = dc.decide_retention(
        retiring, actor=operator, decision="delete", justification="request from DPO"
    )
    assert checklist.retention_decision == RetentionDecision.DELETE


def test_anonymise_payload():
    assert anonymise_payload({"a": 1, "b": "x", "c": [1, "y", {"d": True}], "e": {"f": "z"}}) == {
        "a": 1,
        "c": [1, {"d": True}],
    }
