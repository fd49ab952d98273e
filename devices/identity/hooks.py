"""How identity plugs into the device lifecycle (registered in ``IdentityConfig.ready``).

* guard on *deployed* (including back from maintenance or quarantine): a device whose type
  supports certificates needs a valid certificate (or, back from quarantine, one on hold that the
  release will lift);
* side effect on *quarantined*: revoke (key compromise) or hold the certificates, per policy;
* side effect on release from quarantine: lift holds;
* credential revoker for decommissioning: revoke every valid certificate (cessation of operation);
* the expiring certificates monitoring's certificate-expiry rule alerts on.
"""

from devices.choices import LifecycleState
from devices.monitoring.hooks import ExpiringCertificate

from .choices import RevocationReason
from .models import DeviceCertificate
from .services import (
    active_certificate_for,
    policy_for,
    release_certificate_holds,
    revoke_device_certificates,
)


def needs_active_certificate(device, transition):
    if not device.device_type.supports_certificates:
        return None
    if active_certificate_for(device) is not None:
        return None
    if transition.source == LifecycleState.QUARANTINED and (
        DeviceCertificate.objects.filter(
            device_id=device.pk, revocation_reason=RevocationReason.CERTIFICATE_HOLD
        ).exists()
    ):
        return None  # the release lifts the hold
    return "Enroll the device (a valid certificate) before it is deployed."


def revoke_on_quarantine(device, transition, *, actor, reason):
    policy = policy_for(device.organization)
    if not policy.revoke_on_quarantine:
        return
    revoke_device_certificates(
        device,
        actor=actor,
        reason=f"Quarantined: {reason}",
        reason_code=policy.quarantine_revocation_reason,
        system=True,
    )


def release_holds(device, transition, *, actor, reason):
    if transition.source == LifecycleState.QUARANTINED:
        release_certificate_holds(device, actor=actor, note=f"Released: {reason}")


def revoke_for_decommissioning(device, *, actor, reason):
    return revoke_device_certificates(
        device,
        actor=actor,
        reason=reason or "Decommissioned",
        reason_code=RevocationReason.CESSATION_OF_OPERATION,
        system=True,
    )


def expiring_certificates(devices, now, horizon):
    """Valid certificates of ``devices`` expiring in ``(now, horizon]`` whose device has no valid
    certificate lasting past ``horizon`` (not yet rotated)."""
    certificates = DeviceCertificate.objects.filter(
        device__in=devices, not_after__lte=horizon, not_after__gt=now, revoked_at__isnull=True
    ).select_related("device", "device__organization", "device__site")
    for certificate in certificates:
        rotated = DeviceCertificate.objects.filter(
            device=certificate.device, not_after__gt=horizon, revoked_at__isnull=True
        ).exists()
        if not rotated:
            yield ExpiringCertificate(certificate.device, certificate.pk, certificate.not_after)
