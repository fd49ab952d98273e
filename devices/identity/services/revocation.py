"""Revocation (RFC 5280 reasons), certificate holds, and the signed CRL of each CA."""

import datetime

from django.db import transaction
from django.utils import timezone

from devices.monitoring.services import resolve_open_alerts
from encompass.audit.services import actor_label, record_audit
from encompass.events.choices import Severity
from encompass.events.services import record_event
from encompass.exceptions import ValidationError
from encompass.tenancy.access import ensure_permitted

from .. import pki
from ..choices import RevocationReason
from ..models import CertificateAuthority, DeviceCertificate
from ..signals import send_crl_published
from .common import policy_for, signing_key


def _crl_entries(authority, now):
    # Expired certificates leave the CRL: their expiry already refuses them (RFC 5280 3.3).
    rows = DeviceCertificate.objects.filter(
        authority=authority, revoked_at__isnull=False, not_after__gt=now
    ).values_list("serial_hex", "revoked_at", "revocation_reason")
    return [(int(serial, 16), at, reason) for serial, at, reason in rows]


@transaction.atomic
def regenerate_crl(authority, *, actor="job:identity-crl"):
    """Sign a fresh CRL for ``authority`` (number + 1, next-update from the policy)."""
    locked = CertificateAuthority.objects.select_for_update().get(pk=authority.pk)
    now = timezone.now().replace(microsecond=0)
    hours = policy_for(locked.organization).crl_validity_hours
    next_update = min(now + datetime.timedelta(hours=hours), locked.not_after)
    number = locked.crl_number + 1
    crl = pki.build_crl(
        ca_certificate=locked.certificate(),
        ca_key=signing_key(locked),
        revoked=_crl_entries(locked, now),
        number=number,
        now=now,
        next_update=next_update,
    )
    from cryptography.hazmat.primitives.serialization import Encoding

    locked.crl_der = crl.public_bytes(Encoding.DER)
    locked.crl_number = number
    locked.crl_this_update = now
    locked.crl_next_update = next_update
    locked.save(
        update_fields=["crl_der", "crl_number", "crl_this_update", "crl_next_update", "updated_at"]
    )
    record_event(
        "identity.crl_published",
        organization=locked.organization,
        payload={
            "authority": locked.pk,
            "number": number,
            "revoked": len(crl),
            "next_update": next_update.isoformat(),
        },
        severity=Severity.DEBUG,
    )
    transaction.on_commit(lambda: send_crl_published(locked.pk))
    return locked


def _check_reason(reason_code):
    if reason_code not in RevocationReason.values:
        choices = ", ".join(RevocationReason.values)
        raise ValidationError(
            {"reason": f"Unknown reason {reason_code!r}; choose one of {choices}."}
        )


def _resolve_alerts(certificate, resolution):
    keys = [f"cert-expiring:{certificate.pk}", f"cert-expired:{certificate.pk}"]
    resolve_open_alerts(
        certificate.organization_id, keys, actor="job:identity", resolution=resolution
    )


def _revoke_locked(locked, *, actor, reason_code, note):
    locked.revoked_at = timezone.now()
    locked.revocation_reason = reason_code
    locked.revocation_note = (note or "")[:300]
    locked.revoked_by = actor_label(actor)[:200]
    locked.revoke_after = None
    locked.save(
        update_fields=[
            "revoked_at",
            "revocation_reason",
            "revocation_note",
            "revoked_by",
            "revoke_after",
            "updated_at",
        ]
    )
    record_audit(
        "identity.devicecertificate.revoke",
        actor=actor,
        obj=locked,
        changes={
            "reason": reason_code,
            "note": locked.revocation_note,
            "serial": locked.serial_hex,
        },
    )
    record_event(
        "certificate.revoked",
        organization=locked.organization,
        device=locked.device,
        severity=Severity.NOTICE,
        payload={
            "certificate": locked.pk,
            "serial": locked.serial_hex,
            "reason": reason_code,
            "actor": actor_label(actor),
        },
    )
    _resolve_alerts(locked, f"Certificate revoked ({RevocationReason(reason_code).label}).")


@transaction.atomic
def revoke_certificate(certificate, *, actor, reason_code, note="", system=False, crl=True):
    """Revoke one certificate with an RFC 5280 reason, then re-sign the CA's CRL."""
    _check_reason(reason_code)
    if not system:
        ensure_permitted(actor, "revoke", certificate)
    locked = (
        DeviceCertificate.objects.select_for_update(of=("self",))
        .select_related("device__site", "organization")
        .get(pk=certificate.pk)
    )
    if locked.revoked_at is not None:
        raise ValidationError(
            {"certificate": f"Already revoked ({locked.get_revocation_reason_display()})."}
        )
    _revoke_locked(locked, actor=actor, reason_code=reason_code, note=note)
    if crl:
        regenerate_crl(locked.authority, actor=actor)
    return locked


@transaction.atomic
def revoke_device_certificates(device, *, actor, reason, reason_code=None, system=False):
    """Revoke every certificate of ``device`` that is still valid; answer how many.

    ``reason`` is free text for the record (or an RFC 5280 reason value); ``reason_code``
    defaults to the reason when it is one, else *unspecified*. Certificates on hold are revoked
    for good. Safe to call twice (the second call revokes nothing).
    """
    if reason_code is None:
        reason_code = reason if reason in RevocationReason.values else RevocationReason.UNSPECIFIED
    _check_reason(reason_code)
    now = timezone.now()
    candidates = DeviceCertificate.objects.select_for_update(of=("self",)).filter(
        device_id=device.pk, not_after__gt=now
    )
    candidates = candidates.filter(revoked_at__isnull=True) | candidates.filter(
        revocation_reason=RevocationReason.CERTIFICATE_HOLD
    )
    rows = list(candidates.select_related("device__site", "organization").order_by("pk"))
    if not system:
        for row in rows:
            ensure_permitted(actor, "revoke", row)
    authorities = set()
    for row in rows:
        if row.revoked_at is not None:  # on hold: make it final
            row.revoked_at = None
        _revoke_locked(row, actor=actor, reason_code=reason_code, note=reason)
        authorities.add(row.authority_id)
    for authority in CertificateAuthority.objects.filter(pk__in=authorities):
        regenerate_crl(authority, actor=actor)
    return len(rows)


@transaction.atomic
def hold_device_certificates(device, *, actor, note):
    """Put every valid certificate of ``device`` on hold (a reversible revocation)."""
    return revoke_device_certificates(
        device,
        actor=actor,
        reason=note,
        reason_code=RevocationReason.CERTIFICATE_HOLD,
        system=True,
    )


@transaction.atomic
def release_certificate_holds(device, *, actor, note=""):
    """Lift the holds on ``device``'s certificates (RFC 5280 removeFromCRL); answer how many."""
    rows = list(
        DeviceCertificate.objects.select_for_update(of=("self",))
        .select_related("organization", "device__site")
        .filter(device_id=device.pk, revocation_reason=RevocationReason.CERTIFICATE_HOLD)
        .filter(not_after__gt=timezone.now())
    )
    authorities = set()
    for row in rows:
        row.revoked_at = None
        row.revocation_reason = ""
        row.revocation_note = ""
        row.revoked_by = ""
        row.save(
            update_fields=[
                "revoked_at",
                "revocation_reason",
                "revocation_note",
                "revoked_by",
                "updated_at",
            ]
        )
        record_audit(
            "identity.devicecertificate.release_hold",
            actor=actor,
            obj=row,
            changes={"note": note, "serial": row.serial_hex},
        )
        record_event(
            "certificate.hold_released",
            organization=row.organization,
            device=row.device,
            payload={"certificate": row.pk, "serial": row.serial_hex},
        )
        authorities.add(row.authority_id)
    for authority in CertificateAuthority.objects.filter(pk__in=authorities):
        regenerate_crl(authority, actor=actor)
    return len(rows)


def revoke_superseded(*, now=None, actor="job:identity-rotation"):
    """Revoke certificates whose post-renewal overlap has ended; answer how many."""
    now = now or timezone.now()
    due = DeviceCertificate.objects.filter(revoked_at__isnull=True, revoke_after__lte=now)
    count = 0
    for certificate in due.iterator():
        with transaction.atomic():
            locked = DeviceCertificate.objects.select_for_update(of=("self",)).get(
                pk=certificate.pk
            )
            if locked.revoked_at is not None or locked.revoke_after is None:
                continue  # a concurrent run got there first
            revoke_certificate(
                locked,
                actor=actor,
                reason_code=RevocationReason.SUPERSEDED,
                note="Replaced by a renewed certificate; overlap ended.",
                system=True,
            )
            count += 1
    return count
