import datetime

import pytest
from django.utils import timezone

from encompass.audit.models import AuditEntry
from encompass.exceptions import NotPermitted, ValidationError
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device_type
from risk import services
from risk.models import Risk

from .conftest import in_days


def test_create_grades_from_the_matrix_and_numbers_per_org(world, make_risk):
    first = make_risk(likelihood=4, impact=4, source="incident INC-2026-0004")
    second = make_risk(likelihood=1, impact=2)
    theirs = make_risk(world.b)
    assert (first.reference, second.reference, theirs.reference) == (
        "RSK-001",
        "RSK-002",
        "RSK-001",
    )
    assert (first.inherent_level, second.inherent_level) == ("high", "low")
    assert first.matrix.is_default and first.matrix.organization == world.a.org
    assert AuditEntry.objects.filter(action="risk.risk.create", object_id=str(first.pk)).exists()


def test_create_risk_for_a_platform_caller(world):
    risk = services.create_risk(
        actor="job:post-incident",
        organization=world.a.org,
        system=True,
        title="Lessons",
        description="From the review",
        likelihood=2,
        impact=3,
        source="incident INC-2026-0004",
    )
    assert risk.scenario == "From the review"


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.TECHNICIAN, Role.AUDITOR])
def test_only_security_staff_create_risks(world, role):
    with pytest.raises(NotPermitted):
        services.create_risk(
            actor=world.a.user(role),
            organization=world.a.org,
            title="x",
            scenario="y",
            likelihood=1,
            impact=1,
        )


def test_out_of_scale_values_name_the_field(make_risk):
    with pytest.raises(ValidationError) as exc:
        make_risk(likelihood=6, impact=0)
    assert set(exc.value.message_dict) == {"likelihood", "impact"}
    assert not Risk.objects.exists()


def test_residual_cannot_exceed_inherent(officer, make_risk):
    risk = make_risk(likelihood=3, impact=4)
    with pytest.raises(ValidationError) as exc:
        services.assess_residual(risk, actor=officer, likelihood=4, impact=2)
    assert "residual_likelihood" in exc.value.message_dict
    risk = services.assess_residual(
        risk, actor=officer, likelihood=2, impact=3, current_controls="Signed firmware"
    )
    assert (risk.residual_level, risk.current_level) == ("medium", "medium")
    with pytest.raises(ValidationError) as exc:
        services.update_risk(risk, actor=officer, impact=2)  # now below the residual impact
    assert "residual_impact" in exc.value.message_dict


def test_links_to_another_tenant_are_refused(world, officer, make_risk):
    theirs = services.create_vulnerability(
        actor=world.b.user(Role.SECURITY_OFFICER),
        organization=world.b.org,
        identifier="CVE-2026-30000",
        title="B's",
        cvss_score=5,
    )
    with pytest.raises(ValidationError) as exc:
        make_risk(vulnerabilities=[theirs])
    assert "vulnerabilities" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        make_risk(owner=world.b.user(Role.ADMIN))
    assert "owner" in exc.value.message_dict


def test_acceptance_rules(world, officer, make_risk):
    risk = make_risk()
    with pytest.raises(ValidationError) as exc:
        services.accept_risk(risk, actor=officer, justification="ok", expires_at=in_days(30))
    assert "treatment" in exc.value.message_dict
    risk = services.update_risk(risk, actor=officer, treatment="accept")
    with pytest.raises(NotPermitted):  # an Admin is not a Security officer
        services.accept_risk(
            risk, actor=world.a.user(Role.ADMIN), justification="ok", expires_at=in_days(30)
        )
    with pytest.raises(NotPermitted):  # a Security officer of another organization
        services.accept_risk(
            risk,
            actor=world.b.user(Role.SECURITY_OFFICER),
            justification="ok",
            expires_at=in_days(30),
        )
    for expires, field in ((in_days(-1), "expires_at"), (in_days(400), "expires_at")):
        with pytest.raises(ValidationError) as exc:
            services.accept_risk(risk, actor=officer, justification="ok", expires_at=expires)
        assert field in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        services.accept_risk(risk, actor=officer, justification=" ", expires_at=in_days(30))
    assert "justification" in exc.value.message_dict

    risk = services.accept_risk(
        risk, actor=officer, justification="Compensated by the VLAN", expires_at=in_days(90)
    )
    assert (risk.status, risk.effective_status, risk.accepted_by) == (
        "accepted",
        "accepted",
        officer,
    )
    with pytest.raises(ValidationError):
        services.update_risk(risk, actor=officer, treatment="mitigate")
    with pytest.raises(ValidationError):
        services.update_risk(risk, actor=officer, likelihood=5)
    risk = services.update_risk(risk, actor=officer, title="Renamed is fine")


def test_acceptance_expires(officer, make_risk):
    risk = make_risk(treatment="accept")
    risk = services.accept_risk(risk, actor=officer, justification="ok", expires_at=in_days(10))
    Risk.objects.filter(pk=risk.pk).update(
        acceptance_expires_at=timezone.now() - datetime.timedelta(minutes=1)
    )
    risk.refresh_from_db()
    assert risk.effective_status == "acceptance_expired"
    assert list(Risk.objects.with_effective_status("acceptance_expired")) == [risk]
    assert not Risk.objects.with_effective_status("accepted").exists()
    renewed = services.accept_risk(
        risk,
        actor=officer,
        justification="still ok",
        expires_at=datetime.date.today() + datetime.timedelta(days=30),
    )
    assert renewed.effective_status == "accepted"
    revoked = services.revoke_acceptance(renewed, actor=officer, reason="VLAN removed")
    assert (revoked.status, revoked.accepted_by, revoked.acceptance_expires_at) == (
        "open",
        None,
        None,
    )


def test_close_needs_reason_and_no_open_mitigations(officer, make_risk):
    risk = make_risk()
    mitigation = services.create_mitigation(
        risk, actor=officer, title="Patch", due_on=datetime.date.today()
    )
    with pytest.raises(ValidationError) as exc:
        services.close_risk(risk, actor=officer, reason="done")
    assert "mitigations" in exc.value.message_dict
    services.set_mitigation_status(mitigation, actor=officer, status="done")
    with pytest.raises(ValidationError):
        services.close_risk(risk, actor=officer, reason="")
    risk = services.close_risk(risk, actor=officer, reason="Patched everywhere")
    assert risk.status == "closed"
    with pytest.raises(ValidationError):
        services.create_mitigation(risk, actor=officer, title="More")


def test_mitigation_rules(world, officer, make_risk):
    risk = make_risk()
    with pytest.raises(ValidationError) as exc:
        services.create_mitigation(
            risk,
            actor=officer,
            title="x",
            requirement_refs=["etsi-en-303-645:9.9-9", "nist:1", "bad"],
        )
    assert len(exc.value.message_dict["requirement_refs"]) == 3
    m = services.create_mitigation(
        risk,
        actor=officer,
        title="Enforce signed updates",
        requirement_refs=["etsi-en-303-645:5.3-2"],
    )
    operator = world.a.user(Role.OPERATOR)
    m = services.set_mitigation_status(m, actor=operator, status="in_progress")
    with pytest.raises(ValidationError) as exc:
        services.set_mitigation_status(m, actor=operator, status="cancelled")
    assert "note" in exc.value.message_dict
    m = services.set_mitigation_status(m, actor=operator, status="done")
    assert m.done_by == operator and m.done_at
    with pytest.raises(ValidationError):
        services.set_mitigation_status(m, actor=operator, status="cancelled", note="x")
    with pytest.raises(NotPermitted):
        services.create_mitigation(risk, actor=operator, title="op")


def test_matrix_change_regrades_and_refuses_shrinking_below_use(world, officer, make_risk):
    risk = make_risk(likelihood=5, impact=5)
    matrix = risk.matrix
    definition = dict(matrix.definition)
    definition["grid"] = [["low"] * 5 for _ in range(5)]
    services.update_matrix(matrix, actor=officer, definition=definition)
    risk.refresh_from_db()
    assert risk.inherent_level == "low"
    small = {
        **definition,
        "likelihood": definition["likelihood"][:3],
        "grid": definition["grid"][:3],
    }
    with pytest.raises(ValidationError) as exc:
        services.update_matrix(matrix, actor=officer, definition=small)
    assert risk.reference in str(exc.value)


def test_register_assets_from_inventory_is_idempotent(world, officer):
    from devices.choices import Criticality
    from encompass.testing.factories import make_device

    dt = make_device_type(world.a.org, manufacturer="Acme", model="Valve")
    make_device(
        world.a.org, device_type=dt, site=world.a.sites[0], criticality=Criticality.CRITICAL
    )
    make_device(world.a.org, device_type=dt, criticality=Criticality.LOW)
    created = services.register_assets_from_inventory(world.a.org, actor=officer)
    kinds = sorted(a.kind for a in created)
    assert kinds == ["device", "device_type", "site", "site"]
    assert next(a for a in created if a.kind == "device_type").criticality == "critical"
    assert services.register_assets_from_inventory(world.a.org, actor=officer) == []
