"""CA rotation progress: which devices still depend on a CA, and what keeps them there.

Read-only, through ``.restrict(user)``: a user sees the devices of the sites they may view.
"""

from django.db.models import Count, Max
from django.utils import timezone

from devices.choices import ACTIVE_STATES
from devices.models import Device

from .choices import RevocationReason
from .models import CertificateAuthority, DeviceCertificate
from .services.tokens import ENROLLABLE_STATES

MAX_BLOCKERS = 100


def _current_certificates(user, organization, at):
    """Each device's newest valid certificate (one row per device)."""
    newest = (
        DeviceCertificate.objects.restrict(user, "view")
        .filter(organization=organization)
        .valid(at)
        .order_by("device_id", "-not_after", "-pk")
        .distinct("device_id")
        .values("pk")
    )
    return DeviceCertificate.objects.filter(pk__in=newest)


def rotation_progress(authority, user, *, at=None):
    """How far the organization has moved off ``authority`` onto its issuing CA."""
    at = at or timezone.now()
    organization = authority.organization
    issuing = CertificateAuthority.objects.filter(organization=organization, is_active=True).first()
    current = _current_certificates(user, organization, at)
    per_ca = dict(
        current.values("authority_id").annotate(n=Count("pk")).values_list("authority_id", "n")
    )
    on_this = current.filter(authority=authority).select_related("device")
    blockers = []
    for cert in on_this.order_by("not_after")[:MAX_BLOCKERS]:
        device = cert.device
        if authority.is_active:
            break
        if device.state not in ACTIVE_STATES:
            reason = (
                f"{device.get_state_display()}: cannot renew; re-enroll it with an enrollment "
                "token once it is back in service"
            )
        elif DeviceCertificate.objects.filter(replaces=cert).exists():
            reason = "renewed, but has not used its new certificate yet"
        elif cert.last_authenticated_at is None:
            reason = "has never authenticated with this certificate"
        else:
            reason = "has not renewed yet"
        blockers.append(
            {
                "device": device.pk,
                "device_uid": device.uid,
                "state": device.state,
                "certificate": cert.pk,
                "not_after": cert.not_after,
                "last_authenticated_at": cert.last_authenticated_at,
                "reason": reason,
            }
        )
    awaiting = _awaiting_reenrollment(authority, user, at) if authority.is_compromised else None
    if awaiting is not None:
        for device in awaiting.order_by("pk")[:MAX_BLOCKERS]:
            blockers.append(
                {
                    "device": device.pk,
                    "device_uid": device.uid,
                    "state": device.state,
                    "certificate": None,
                    "not_after": None,
                    "last_authenticated_at": None,
                    "reason": (
                        "certificate revoked (CA compromise): re-enroll it with its enrollment "
                        "token"
                        if device.state in ACTIVE_STATES
                        else f"{device.get_state_display()}: re-enroll it once back in service"
                    ),
                }
            )
    last_expiry = (
        DeviceCertificate.objects.filter(authority=authority)
        .unrevoked()
        .aggregate(last=Max("not_after"))["last"]
    )
    return {
        "authority": authority.pk,
        "is_issuing": authority.is_active,
        "issuing_authority": issuing.pk if issuing else None,
        "devices_on_this_ca": per_ca.get(authority.pk, 0),
        "devices_on_issuing_ca": per_ca.get(issuing.pk, 0) if issuing else 0,
        "devices_on_other_cas": sum(
            n
            for pk, n in per_ca.items()
            if pk != authority.pk and (issuing is None or pk != issuing.pk)
        ),
        # The CA keeps publishing its CRL (and answering OCSP) until this moment.
        "last_certificate_expires": last_expiry,
        "compromised_at": authority.compromised_at,
        # Devices that were on this CA when it was declared compromised and hold no valid
        # certificate since (the emergency path's "still on it").
        "devices_awaiting_reenrollment": awaiting.count() if awaiting is not None else 0,
        "blockers": blockers,
        "blockers_truncated": not authority.is_active
        and (
            per_ca.get(authority.pk, 0) > MAX_BLOCKERS
            or (awaiting is not None and awaiting.count() > MAX_BLOCKERS)
        ),
    }


def _awaiting_reenrollment(authority, user, at):
    """Devices that lost a certificate of the compromised ``authority``, none valid since."""
    lost = DeviceCertificate.objects.filter(
        authority=authority,
        revocation_reason=RevocationReason.CA_COMPROMISE,
        revoked_at__gte=authority.compromised_at,
    ).values("device_id")
    renewed = (
        DeviceCertificate.objects.filter(organization=authority.organization)
        .valid(at)
        .values("device_id")
    )
    return (
        Device.objects.restrict(user, "view")
        .filter(organization=authority.organization, pk__in=lost)
        .exclude(pk__in=renewed)
        .filter(state__in=ENROLLABLE_STATES)
    )
