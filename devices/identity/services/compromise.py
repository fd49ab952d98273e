"""The emergency path: a CA whose key is compromised is withdrawn, and its devices re-enroll.

A compromised CA key can sign any certificate, so the CA is not retired by waiting for its
certificates to expire (the rotation drill) but at once:

1. it is marked compromised, which takes it out of every trust list Encompass writes (the MQTT
   broker's CA file, EST ``cacerts``) and out of device authentication, whatever it signed;
2. every certificate it issued that is still unrevoked is revoked with reason *cA compromise*,
   and its CRL is re-signed so relying parties that still hold the CA see why;
3. every device that was in service on one of those certificates, and has no valid certificate
   from another CA, gets a one-time enrollment token so it can enroll again with a new key under
   the organization's issuing CA. The tokens are returned once, to hand to whoever re-provisions
   the devices (the same as a token made on the device's page).

The issuing CA must already be another one: create (or import) the replacement first, so that
re-enrollment has somewhere to go. The rotation page counts the devices still waiting.
"""

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from encompass.audit.services import record_audit
from encompass.events.choices import Severity
from encompass.events.services import record_event
from encompass.exceptions import ValidationError
from encompass.tenancy.access import ensure_permitted

from ..choices import RevocationReason
from ..models import CertificateAuthority, DeviceCertificate
from .revocation import _revoke_locked, regenerate_crl
from .tokens import ENROLLABLE_STATES, create_enrollment_token

NOTE_MAX = 300


def _replacement(authority):
    issuing = CertificateAuthority.objects.filter(
        organization_id=authority.organization_id, is_active=True, compromised_at__isnull=True
    ).first()
    if issuing is None or issuing.pk == authority.pk:
        raise ValidationError(
            {
                "authority": (
                    "This CA is the issuing CA. Create or import the replacement CA first (it "
                    "becomes the issuer), then declare this one compromised, so that its devices "
                    "have a CA to re-enroll with."
                )
            }
        )
    if issuing.is_expired:
        raise ValidationError({"authority": "The issuing CA has expired; replace it first."})
    return issuing


@transaction.atomic
def declare_ca_compromised(authority, *, actor, note, token_ttl=None):
    """Withdraw ``authority`` now; answer the counts, ``tokens`` ``[(device, plaintext)]`` and
    ``skipped`` (devices that cannot enroll in their lifecycle state).

    Refused (nothing changes) when the note is empty, the CA is already compromised or it is the
    organization's only issuing CA.
    """
    ensure_permitted(actor, "declare_compromised", authority)
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": "Say what happened (it goes into the audit trail)."})
    if len(note) > NOTE_MAX:
        raise ValidationError({"note": f"At most {NOTE_MAX} characters."})
    locked = CertificateAuthority.objects.select_for_update().get(pk=authority.pk)
    if locked.compromised_at is not None:
        raise ValidationError(
            {"authority": f"This CA was already declared compromised on {locked.compromised_at}."}
        )
    issuing = _replacement(locked)
    now = timezone.now()
    locked.compromised_at = now
    locked.compromise_note = note
    locked.save(update_fields=["compromised_at", "compromise_note", "updated_at"])

    # Unrevoked certificates, and those on hold (a hold becomes final).
    rows = list(
        DeviceCertificate.objects.select_for_update(of=("self",))
        .filter(authority=locked, not_after__gt=now)
        .filter(Q(revoked_at__isnull=True) | Q(revocation_reason=RevocationReason.CERTIFICATE_HOLD))
        .select_related("device__site", "device__organization", "organization")
        .order_by("pk")
    )
    devices = {}
    for row in rows:
        if row.revoked_at is not None:  # on hold: make it final
            row.revoked_at = None
        _revoke_locked(
            row,
            actor=actor,
            reason_code=RevocationReason.CA_COMPROMISE,
            note=f"CA {locked.name} compromised: {note}",
        )
        devices[row.device_id] = row.device
    regenerate_crl(locked, actor=actor)

    elsewhere = set(
        DeviceCertificate.objects.filter(device_id__in=devices)
        .exclude(authority=locked)
        .valid(now)
        .values_list("device_id", flat=True)
    )
    tokens, skipped = [], []
    for device_id in sorted(devices):
        device = devices[device_id]
        if device_id in elsewhere:
            continue
        if device.state not in ENROLLABLE_STATES:
            skipped.append(device)
            continue
        _token, plaintext = create_enrollment_token(
            device,
            actor=actor,
            ttl=token_ttl,
            note=f"re-enrollment after CA {locked.name} was compromised",
        )
        tokens.append((device, plaintext))

    summary = {
        "revoked": len(rows),
        "devices": len(devices),
        "already_on_another_ca": len(elsewhere),
        "tokens_issued": len(tokens),
        "not_enrollable": len(skipped),
        "issuing_authority": issuing.pk,
    }
    record_audit(
        "identity.certificateauthority.declare_compromised",
        actor=actor,
        obj=locked,
        changes={"note": note, **summary},
    )
    record_event(
        "identity.authority_compromised",
        organization=locked.organization,
        severity=Severity.CRITICAL,
        payload={"authority": locked.pk, "name": locked.name, **summary},
    )
    return {**summary, "authority": locked, "tokens": tokens, "skipped": skipped}
