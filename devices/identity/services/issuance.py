"""Issuing device certificates: enrollment from a CSR, renewal, and factory bundles."""

import datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import PrivateFormat, pkcs12
from django.db import transaction
from django.utils import timezone

from devices.choices import ACTIVE_STATES
from devices.models import Device
from encompass.audit.services import record_audit
from encompass.events.choices import Severity
from encompass.events.services import record_event
from encompass.exceptions import ValidationError
from encompass.tenancy.access import ensure_can_create, ensure_permitted

from .. import pki
from ..choices import GENERATABLE, IssuedVia, RevocationReason
from ..models import DeviceCertificate, EnrollmentToken
from .authorities import active_authority
from .common import authority_crl_url, ca_issuers_url, ocsp_url, policy_for, signing_key
from .revocation import _resolve_alerts, revoke_certificate
from .tokens import ENROLLABLE_STATES, find_token

MIN_BUNDLE_PASSWORD = 12


def active_certificate_for(device, at=None):
    """The newest valid (unrevoked, unexpired) certificate of ``device``, or ``None``."""
    return (
        DeviceCertificate.objects.filter(device_id=device.pk)
        .valid(at)
        .order_by("-not_after", "-pk")
        .first()
    )


def check_public_key(public_key, organization, *, field="csr"):
    """Refuse keys below policy and keys any certificate already carries (a fresh key each time)."""
    problem = pki.key_policy_problem(public_key, policy_for(organization))
    if problem:
        raise ValidationError({field: problem})
    if DeviceCertificate.objects.filter(spki_sha256=pki.spki_sha256(public_key)).exists():
        raise ValidationError(
            {field: "This public key already has a certificate; generate a new key pair."}
        )


def check_csr(csr, device):
    """The subject checks of a device CSR (signature is checked when it is loaded)."""
    cn = pki.common_name(csr.subject)
    if cn and cn != device.uid:
        raise ValidationError(
            {"csr": f"The CSR subject CN must be the device id {device.uid} or empty, not {cn!r}."}
        )
    if pki.requests_ca(csr):
        raise ValidationError({"csr": "A device certificate cannot be a CA: remove CA extensions."})


def issue_certificate(
    device,
    public_key,
    *,
    actor,
    via,
    replaces=None,
    key_generated_by_platform=False,
    validity_days=None,
):
    """Sign a client certificate for ``public_key`` with the organization's issuing CA.

    Callers have authorized the request (token, current certificate or staff role); this checks
    the key against the policy, issues, records, audits and publishes. Call inside a transaction.
    """
    organization = device.organization
    authority = active_authority(organization)
    if authority is None:
        raise ValidationError(
            {"authority": f"{organization} has no certificate authority yet; create one first."}
        )
    check_public_key(public_key, organization)
    now = timezone.now().replace(microsecond=0)
    if authority.not_after <= now:
        raise ValidationError({"authority": "The issuing CA has expired; activate a new one."})
    policy = policy_for(organization)
    if validity_days is None and policy.short_lived_hours:
        lifetime = datetime.timedelta(hours=policy.short_lived_hours)
    else:
        lifetime = datetime.timedelta(days=validity_days or policy.certificate_validity_days)
    not_after = min(now + lifetime, authority.not_after)
    certificate = pki.build_device_certificate(
        ca_certificate=authority.certificate(),
        ca_key=signing_key(authority),
        public_key=public_key,
        device_uid=device.uid,
        organization_name=organization.name,
        not_after=not_after,
        now=now,
        crl_url=authority_crl_url(authority),
        ocsp_url=ocsp_url(organization),
        ca_issuers_url=ca_issuers_url(authority),
    )
    _type, bits, algorithm = pki.describe_key(public_key)
    record = DeviceCertificate.objects.create(
        organization=organization,
        device=device,
        authority=authority,
        serial_hex=pki.serial_hex(certificate.serial_number),
        fingerprint_sha256=pki.fingerprint_sha256(certificate),
        spki_sha256=pki.spki_sha256(public_key),
        key_algorithm=algorithm,
        key_size=bits,
        subject=certificate.subject.rfc4514_string()[:500],
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        certificate_pem=pki.to_pem(certificate),
        issued_via=via,
        key_generated_by_platform=key_generated_by_platform,
        replaces=replaces,
    )
    record_audit(
        "identity.devicecertificate.issue",
        actor=actor,
        obj=record,
        changes={
            "serial": record.serial_hex,
            "fingerprint_sha256": record.fingerprint_sha256,
            "not_after": record.not_after.isoformat(),
            "via": via,
            "replaces": replaces.serial_hex if replaces else None,
        },
    )
    record_event(
        "certificate.issued",
        organization=organization,
        device=device,
        payload={
            "certificate": record.pk,
            "serial": record.serial_hex,
            "not_after": record.not_after.isoformat(),
            "via": via,
        },
    )
    return record


class EnrollmentRefused(ValidationError):
    """A refused enrollment; ``device`` is set when the token named one (for security signals)."""

    device = None


def _refuse(errors, device=None):
    exc = EnrollmentRefused(errors)
    exc.device = device
    return exc


@transaction.atomic
def enroll(*, token, csr_pem):
    """Exchange a one-time enrollment token and a CSR for a certificate.

    The token is claimed atomically (of two concurrent enrollments, exactly one wins); when any
    check fails the whole transaction rolls back: no certificate, and the token stays unused.
    """
    found = find_token(token)
    if found is None:
        raise _refuse({"token": "Unknown enrollment token."})
    device = found.device
    now = timezone.now()
    if found.revoked_at:
        raise _refuse({"token": "This enrollment token was revoked."}, device)
    if found.expires_at <= now:
        raise _refuse({"token": "This enrollment token has expired; ask for a new one."}, device)
    claimed = EnrollmentToken.objects.filter(
        pk=found.pk, used_at__isnull=True, revoked_at__isnull=True
    ).update(used_at=now, updated_at=now)
    if not claimed:
        raise _refuse({"token": "This enrollment token was already used."}, device)
    device = Device.objects.select_related("organization", "site", "device_type").get(pk=device.pk)
    if device.state not in ENROLLABLE_STATES:
        raise _refuse(
            {"token": f"A {device.get_state_display().lower()} device cannot enroll."}, device
        )
    try:
        csr = pki.load_csr(csr_pem)
        check_csr(csr, device)
        certificate = issue_certificate(
            device, csr.public_key(), actor=device, via=IssuedVia.ENROLLMENT
        )
    except EnrollmentRefused:
        raise
    except ValidationError as exc:
        raise _refuse(
            exc.message_dict if hasattr(exc, "error_dict") else exc.messages, device
        ) from exc
    EnrollmentToken.objects.filter(pk=found.pk).update(certificate=certificate)
    record_audit(
        "identity.enrollmenttoken.use",
        actor=device,
        obj=found,
        changes={"certificate": certificate.serial_hex},
    )
    return certificate


@transaction.atomic
def renew(device, current_certificate, csr_pem):
    """Issue a successor of ``current_certificate`` (which authenticated this request).

    The old certificate stays valid for the policy's overlap, then the maintenance job revokes
    it (superseded). Renewing from an older certificate whose successor was never used (the
    device lost the answer) replaces that unused successor.
    """
    locked = DeviceCertificate.objects.select_for_update().get(pk=current_certificate.pk)
    device = Device.objects.select_related("organization", "site", "device_type").get(pk=device.pk)
    if locked.device_id != device.pk:
        raise ValidationError({"certificate": "This certificate belongs to another device."})
    if not locked.is_valid():
        raise ValidationError({"certificate": "Only a valid certificate can be renewed."})
    if device.state not in ACTIVE_STATES:
        raise ValidationError(
            {"device": f"A {device.get_state_display().lower()} device cannot renew."}
        )
    successor = DeviceCertificate.objects.select_for_update().filter(replaces=locked).first()
    if successor is not None:
        if successor.last_authenticated_at is not None or successor.revoked_at is not None:
            raise ValidationError(
                {"certificate": "This certificate was already renewed; use its successor."}
            )
        revoke_certificate(
            successor,
            actor=device,
            reason_code=RevocationReason.SUPERSEDED,
            note="Never used; the device renewed again from its previous certificate.",
            system=True,
        )
        successor.replaces = None
        successor.save(update_fields=["replaces", "updated_at"])
    csr = pki.load_csr(csr_pem)
    check_csr(csr, device)
    certificate = issue_certificate(
        device, csr.public_key(), actor=device, via=IssuedVia.RENEWAL, replaces=locked
    )
    overlap = datetime.timedelta(days=policy_for(device.organization).renewal_overlap_days)
    locked.revoke_after = min(timezone.now() + overlap, locked.not_after)
    locked.save(update_fields=["revoke_after", "updated_at"])
    _resolve_alerts(locked, "Renewed by the device.")
    record_event(
        "certificate.renewed",
        organization=device.organization,
        device=device,
        payload={
            "old": locked.serial_hex,
            "new": certificate.serial_hex,
            "old_revoked_after": locked.revoke_after.isoformat(),
        },
    )
    if overlap == datetime.timedelta(0):
        revoke_certificate(
            locked,
            actor=device,
            reason_code=RevocationReason.SUPERSEDED,
            note="Replaced by a renewed certificate (no overlap).",
            system=True,
        )
    return certificate


@transaction.atomic
def generate_factory_bundle(device, *, actor, password, key_algorithm="ec-p256"):
    """Factory provisioning: generate the device key here; answer ``(certificate, pkcs12_bytes)``.

    The PKCS#12 (key + certificate + CA chain) is encrypted with ``password`` and returned once;
    the platform keeps no copy of the key, marks the certificate as platform-generated and audits
    the issue. Admin only.
    """
    ensure_can_create(actor, DeviceCertificate, device.organization, device.site)
    ensure_permitted(actor, "view", device)
    if not isinstance(password, str) or len(password) < MIN_BUNDLE_PASSWORD:
        raise ValidationError(
            {"password": f"Use a password of at least {MIN_BUNDLE_PASSWORD} characters."}
        )
    if key_algorithm not in GENERATABLE:
        raise ValidationError({"key_algorithm": f"Choose one of {', '.join(GENERATABLE)}."})
    if device.state not in ENROLLABLE_STATES:
        raise ValidationError(
            {"device": f"A {device.get_state_display().lower()} device cannot be provisioned."}
        )
    key = pki.generate_private_key(key_algorithm)
    record = issue_certificate(
        device,
        key.public_key(),
        actor=actor,
        via=IssuedVia.FACTORY,
        key_generated_by_platform=True,
    )
    chain = record.authority.chain()
    # PBES2 / AES-256 / SHA-256: what OpenSSL 3 and current device stacks read by default.
    encryption = (
        PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(200_000)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password.encode())
    )
    bundle = pkcs12.serialize_key_and_certificates(
        name=device.uid.encode(),
        key=key,
        cert=record.certificate(),
        cas=chain,
        encryption_algorithm=encryption,
    )
    record_audit(
        "identity.devicecertificate.factory_bundle",
        actor=actor,
        obj=record,
        changes={"serial": record.serial_hex, "key_algorithm": key_algorithm},
    )
    record_event(
        "certificate.factory_bundle",
        organization=device.organization,
        device=device,
        severity=Severity.NOTICE,
        payload={"certificate": record.pk, "serial": record.serial_hex},
    )
    return record, bundle
