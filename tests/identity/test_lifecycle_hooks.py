"""Identity in the device lifecycle: deploy guard, quarantine, release, decommissioning."""

import pytest

from devices.choices import LifecycleState
from devices.identity import services
from devices.identity.choices import RevocationReason
from devices.identity.hooks import revoke_for_decommissioning
from devices.identity.models import IdentityPolicy
from devices.lifecycle import credential_revokers
from devices.services import transition_device
from encompass.exceptions import ValidationError
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device, make_device_type

from .conftest import enroll_device

pytestmark = pytest.mark.django_db


def deploy(world, device):
    return transition_device(
        device, LifecycleState.DEPLOYED, actor=world.a.user(Role.OPERATOR), reason="installed"
    )


def test_deploying_needs_a_certificate(world, ca_a, device_a):
    with pytest.raises(ValidationError) as refused:
        deploy(world, device_a)
    assert "Enroll the device" in str(refused.value)
    enroll_device(world.a, device_a)
    assert deploy(world, device_a).state == LifecycleState.DEPLOYED


def test_devices_without_certificate_support_deploy_without(world):
    kind = make_device_type(world.a.org, supports_certificates=False)
    device = make_device(
        world.a.org, site=world.a.sites[0], device_type=kind, state=LifecycleState.PROVISIONED
    )
    assert deploy(world, device).state == LifecycleState.DEPLOYED


def test_quarantine_holds_and_release_lifts(world, ca_a, device_a):
    cert, _key = enroll_device(world.a, device_a)
    deploy(world, device_a)
    officer = world.a.user(Role.SECURITY_OFFICER)
    transition_device(device_a, LifecycleState.QUARANTINED, actor=officer, reason="beaconing")
    cert.refresh_from_db()
    assert cert.revocation_reason == RevocationReason.CERTIFICATE_HOLD
    ca_a.refresh_from_db()
    from cryptography import x509

    crl = x509.load_der_x509_crl(bytes(ca_a.crl_der))
    assert crl.get_revoked_certificate_by_serial_number(int(cert.serial_hex, 16)) is not None
    transition_device(device_a, LifecycleState.DEPLOYED, actor=officer, reason="clean")
    cert.refresh_from_db()
    assert cert.revoked_at is None
    ca_a.refresh_from_db()
    crl = x509.load_der_x509_crl(bytes(ca_a.crl_der))
    assert crl.get_revoked_certificate_by_serial_number(int(cert.serial_hex, 16)) is None


def test_quarantine_with_key_compromise_policy(world, ca_a, device_a):
    IdentityPolicy.objects.filter(organization=world.a.org).update(
        quarantine_revocation_reason=RevocationReason.KEY_COMPROMISE
    )
    cert, _key = enroll_device(world.a, device_a)
    deploy(world, device_a)
    officer = world.a.user(Role.SECURITY_OFFICER)
    transition_device(device_a, LifecycleState.QUARANTINED, actor=officer, reason="tampered")
    cert.refresh_from_db()
    assert cert.revocation_reason == RevocationReason.KEY_COMPROMISE
    with pytest.raises(ValidationError):  # nothing to lift: it needs a new enrollment
        transition_device(device_a, LifecycleState.DEPLOYED, actor=officer, reason="clean")


def test_quarantine_without_revocation_policy(world, ca_a, device_a):
    IdentityPolicy.objects.filter(organization=world.a.org).update(revoke_on_quarantine=False)
    cert, _key = enroll_device(world.a, device_a)
    transition_device(
        device_a,
        LifecycleState.QUARANTINED,
        actor=world.a.user(Role.SECURITY_OFFICER),
        reason="watch",
    )
    cert.refresh_from_db()
    assert cert.revoked_at is None


def test_decommissioning_revoker_is_registered_and_idempotent(world, ca_a, device_a):
    assert revoke_for_decommissioning in credential_revokers()
    first, _ = enroll_device(world.a, device_a)
    _second, _ = enroll_device(world.a, device_a)
    assert revoke_for_decommissioning(device_a, actor="test", reason="retired") == 2
    assert revoke_for_decommissioning(device_a, actor="test", reason="retired") == 0
    first.refresh_from_db()
    assert first.revocation_reason == RevocationReason.CESSATION_OF_OPERATION
    assert services.active_certificate_for(device_a) is None


def test_containment_revocation_needs_the_role(world, ca_a, device_a):
    enroll_device(world.a, device_a)
    with pytest.raises(Exception, match="may not revoke"):
        services.revoke_device_certificates(
            device_a, actor=world.a.user(Role.OPERATOR), reason="key_compromise"
        )
    count = services.revoke_device_certificates(
        device_a, actor=world.a.user(Role.SECURITY_OFFICER), reason="key_compromise"
    )
    assert count == 1
    assert device_a.certificates.get().revocation_reason == RevocationReason.KEY_COMPROMISE
