"""Each automated check on a fleet built to pass it and on one built to fail it."""

from datetime import timedelta

from django.utils import timezone

from compliance.checks import all_checks, get_check
from devices.choices import LifecycleState
from devices.models import Device
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device, make_device_type, make_member

from .conftest import issue


def run(code, org):
    return get_check(code).run(org, now=timezone.now())


def failing_ids(outcome):
    return {row["id"] for row in outcome.failing}


def test_every_check_maps_to_requirements_that_exist(frameworks):
    from compliance.models import Requirement

    for check in all_checks().values():
        assert check.maps, check.code
        for code, ref in check.refs():
            assert Requirement.objects.filter(
                framework__code=code, ref=ref, assessable=True
            ).exists(), f"{check.code}: {code} {ref}"


# --- fleet -----------------------------------------------------------------------------------


def test_support_period(world, fleet):
    assert run("support-period-ended", world.a.org).passed is True
    dtype = fleet[0].device_type
    dtype.support_ends_on = timezone.localdate() - timedelta(days=1)
    dtype.save()
    outcome = run("support-period-ended", world.a.org)
    assert outcome.passed is False
    assert failing_ids(outcome) == {d.pk for d in fleet}
    assert "support ended" in outcome.failing[0]["reason"]


def test_silent_devices(world, fleet):
    assert run("silent-devices", world.a.org).passed is True
    Device.objects.filter(pk=fleet[0].pk).update(
        last_seen_at=timezone.now() - timedelta(minutes=10)
    )
    outcome = run("silent-devices", world.a.org)
    assert outcome.passed is False
    assert failing_ids(outcome) == {fleet[0].pk}
    # Within three heartbeats is fine.
    Device.objects.filter(pk=fleet[0].pk).update(
        last_seen_at=timezone.now() - timedelta(seconds=150)
    )
    assert run("silent-devices", world.a.org).passed is True


# --- credentials -----------------------------------------------------------------------------


def test_unique_device_credentials(world, fleet):
    assert run("unique-device-credentials", world.a.org).passed is True
    Device.objects.filter(pk=fleet[1].pk).update(token_hash=fleet[0].token_hash)
    outcome = run("unique-device-credentials", world.a.org)
    assert outcome.passed is False
    assert failing_ids(outcome) == {fleet[0].pk, fleet[1].pk}
    Device.objects.filter(pk__in=[fleet[0].pk, fleet[1].pk]).update(token_hash="")
    outcome = run("unique-device-credentials", world.a.org)
    assert failing_ids(outcome) == {fleet[0].pk, fleet[1].pk}
    assert outcome.failing[0]["reason"] == "no valid certificate and no device token"


def test_unique_credentials_accepts_a_certificate(world, fleet, certificate_authority):
    Device.objects.filter(pk=fleet[0].pk).update(token_hash="")
    assert run("unique-device-credentials", world.a.org).passed is False
    issue(fleet[0])
    assert run("unique-device-credentials", world.a.org).passed is True


def test_decommissioned_credentials(world, fleet, certificate_authority):
    retired = make_device(world.a.org, state=LifecycleState.DECOMMISSIONED)
    assert run("decommissioned-credentials", world.a.org).passed is True
    issue(retired)
    outcome = run("decommissioned-credentials", world.a.org)
    assert outcome.passed is False
    assert failing_ids(outcome) == {retired.pk}
    assert "is valid until" in outcome.failing[0]["reason"]


# --- certificates ----------------------------------------------------------------------------


def test_no_shared_keys(world, fleet, certificate_authority):
    from devices.identity.models import DeviceCertificate

    first, _key = issue(fleet[0])
    second, _key = issue(fleet[1])
    assert run("no-shared-keys", world.a.org).passed is True
    # The identity service refuses a key twice; an imported legacy pair can still share one.
    DeviceCertificate.objects.filter(pk=second.pk).update(spki_sha256=first.spki_sha256)
    outcome = run("no-shared-keys", world.a.org)
    assert outcome.passed is False
    assert failing_ids(outcome) == {fleet[0].pk, fleet[1].pk}


def test_key_strength(world, fleet, certificate_authority):
    from devices.identity.services import policy_for

    issue(fleet[0])
    assert run("key-strength", world.a.org).passed is True
    # The policy is raised to P-384: the P-256 certificate issued before is now too weak.
    policy = policy_for(world.a.org)
    policy.min_ec_bits = 384
    policy.save()
    outcome = run("key-strength", world.a.org)
    assert outcome.passed is False
    assert failing_ids(outcome) == {fleet[0].pk}


def test_certificate_expiry(world, fleet, certificate_authority):
    for d in fleet:
        issue(d)
    assert run("certificate-expiry", world.a.org).passed is True
    short, _key = issue(fleet[0], days=10)
    from devices.identity.models import DeviceCertificate

    # Only the short one remains valid for fleet[0].
    DeviceCertificate.objects.filter(device=fleet[0]).exclude(pk=short.pk).update(
        revoked_at=timezone.now()
    )
    outcome = run("certificate-expiry", world.a.org)
    assert outcome.passed is False
    assert failing_ids(outcome) == {fleet[0].pk}
    assert "renew it" in outcome.failing[0]["reason"]


# --- firmware and vulnerabilities -------------------------------------------------------------


def _release(org, dtype, version, security_version, status="approved"):
    from devices.firmware.models import FirmwareRelease, SigningKey

    key = SigningKey.objects.filter(organization=org).first() or SigningKey.objects.create(
        organization=org, name="k", public_key="pk", fingerprint="f" * 64
    )
    release = FirmwareRelease.objects.create(
        organization=org,
        version=version,
        security_version=security_version,
        size=1,
        sha256="0" * 64,
        signature="s" * 88,
        signing_key=key,
        status=status,
    )
    release.device_types.add(dtype)
    return release


def test_firmware_current_and_signed(world, fleet):
    dtype = fleet[0].device_type
    Device.objects.filter(pk__in=[d.pk for d in fleet]).update(
        firmware_version="1.0.0", firmware_security_version=1
    )
    _release(world.a.org, dtype, "1.0.0", 1)
    assert run("firmware-current", world.a.org).passed is True
    assert run("firmware-signed", world.a.org).passed is True
    _release(world.a.org, dtype, "1.1.0", 2)
    outcome = run("firmware-current", world.a.org)
    assert outcome.passed is False and failing_ids(outcome) == {d.pk for d in fleet}
    Device.objects.filter(pk=fleet[0].pk).update(
        firmware_version="9.9.9-dev", firmware_security_version=2
    )
    outcome = run("firmware-signed", world.a.org)
    assert outcome.passed is False and failing_ids(outcome) == {fleet[0].pk}
    assert "not a signed release" in outcome.failing[0]["reason"]


def test_known_vulnerabilities(world, fleet):
    from risk.models import AffectedProduct, Vulnerability

    Device.objects.filter(pk__in=[d.pk for d in fleet]).update(firmware_version="1.0.0")
    assert run("known-vulnerabilities", world.a.org).passed is True
    vuln = Vulnerability.objects.create(
        organization=world.a.org, identifier="CVE-2026-0001", title="Overflow", status="open"
    )
    fields = {f.name for f in AffectedProduct._meta.get_fields()}
    data = {"organization": world.a.org, "vulnerability": vuln, "device_type": fleet[0].device_type}
    if "versions_below" in fields:
        data["versions_below"] = "2.0.0"
    elif "fixed_in" in fields:
        data["fixed_in"] = "2.0.0"
    AffectedProduct.objects.create(**data)
    outcome = run("known-vulnerabilities", world.a.org)
    assert outcome.passed is False
    assert failing_ids(outcome) == {d.pk for d in fleet}


# --- governance -------------------------------------------------------------------------------


def test_audit_trail_intact(world):
    from encompass.audit.models import AuditEntry
    from encompass.audit.services import record_audit

    record_audit("test.one", actor="test", organization=world.a.org)
    record_audit("test.two", actor="test", organization=world.a.org)
    assert run("audit-trail-intact", world.a.org).passed is True
    entry = AuditEntry.objects.filter(organization=world.a.org).order_by("sequence").first()
    AuditEntry.objects.filter(pk=entry.pk).model._base_manager.filter(pk=entry.pk)
    from django.db import connection

    with connection.cursor() as cursor:  # tamper as an attacker with database access would
        cursor.execute(
            f"UPDATE {AuditEntry._meta.db_table} SET action = 'test.forged' WHERE id = %s",
            [entry.pk],
        )
    outcome = run("audit-trail-intact", world.a.org)
    assert outcome.passed is False
    assert "edited" in outcome.failing[0]["problem"]


def test_mfa_privileged(world):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    outcome = run("mfa-privileged", world.a.org)
    assert outcome.passed is False
    names = {row["name"] for row in outcome.failing}
    assert names == {"a-admin", "a-security_officer"}
    for role in (Role.ADMIN, Role.SECURITY_OFFICER):
        TOTPDevice.objects.create(user=world.a.user(role), name="phone", confirmed=True)
    assert run("mfa-privileged", world.a.org).passed is True
    make_member(world.a.org, Role.ADMIN, sites=[world.a.sites[1]], username="site-admin")
    assert {r["name"] for r in run("mfa-privileged", world.a.org).failing} == {"site-admin"}


def test_incident_reviews(world):
    from incidents.models import Incident
    from incidents.services.incidents import declare_incident

    assert run("incident-reviews", world.a.org).passed is True
    incident = declare_incident(
        organization=world.a.org,
        title="Breach",
        severity="high",
        actor=world.a.user(Role.SECURITY_OFFICER),
    )
    assert run("incident-reviews", world.a.org).passed is True  # open incidents need no review
    Incident.objects.filter(pk=incident.pk).update(phase="closed", closed_at=timezone.now())
    outcome = run("incident-reviews", world.a.org)
    assert outcome.passed is False
    assert outcome.failing[0]["incident"] == incident.pk


def test_risk_treatments_overdue(world):
    from risk.models import Mitigation
    from risk.services.risks import create_risk

    assert run("risk-treatments-overdue", world.a.org).passed is True
    risk = create_risk(
        actor=world.a.user(Role.SECURITY_OFFICER),
        organization=world.a.org,
        title="Stolen keys",
        scenario="A device key is extracted from a stolen unit.",
        likelihood=3,
        impact=3,
    )
    Mitigation.objects.create(
        organization=world.a.org,
        risk=risk,
        title="Rotate keys",
        due_on=timezone.localdate() - timedelta(days=3),
    )
    outcome = run("risk-treatments-overdue", world.a.org)
    assert outcome.passed is False
    assert outcome.failing[0]["name"] == "Rotate keys"


def test_checks_are_tenant_isolated(world, fleet):
    """Failures in tenant B (silent device past its support period) never reach tenant A."""
    dtype = make_device_type(world.b.org, support_ends_on=timezone.localdate() - timedelta(days=9))
    make_device(
        world.b.org, site=world.b.sites[0], device_type=dtype, state=LifecycleState.DEPLOYED
    )
    for code in ("support-period-ended", "silent-devices", "unique-device-credentials"):
        assert run(code, world.a.org).passed is True, code
        assert run(code, world.b.org).passed is False, code
