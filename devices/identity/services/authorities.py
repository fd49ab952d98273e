"""Certificate authorities: generate a root, import an existing CA, choose the issuing one."""

import datetime
import uuid

from django.db import transaction
from django.utils import timezone

from encompass.audit.services import record_audit, snapshot
from encompass.events.services import record_event
from encompass.exceptions import ValidationError
from encompass.tenancy.access import ensure_can_create, ensure_permitted
from encompass.tenancy.models import Organization

from .. import pki
from ..choices import GENERATABLE, AuthorityKind, AuthoritySource, KeyType
from ..keystore import get_key_store
from ..models import CertificateAuthority
from .common import ensure_policy, user_or_none
from .revocation import regenerate_crl

MIN_CA_DAYS, MAX_CA_DAYS = 30, 30 * 365


def active_authority(organization):
    """The CA that issues the organization's new certificates, or ``None``."""
    return CertificateAuthority.objects.filter(organization=organization, is_active=True).first()


def new_key_label(organization):
    return f"identity-ca:{organization.pk}:{uuid.uuid4()}"


def _save_authority(
    *,
    organization,
    actor,
    name,
    certificate,
    key,
    kind,
    source,
    chain=(),
    activate,
    audit_action,
    label=None,
    reference=None,
):
    # Serialize CA changes per organization (one issuing CA at a time); FOR NO KEY UPDATE so
    # that other transactions' foreign-key checks on the row never wait for us
    # (tests/security/test_lock_order.py).
    Organization.objects.select_for_update(no_key=True).get(pk=organization.pk)
    if CertificateAuthority.objects.filter(
        fingerprint_sha256=pki.fingerprint_sha256(certificate)
    ).exists():
        raise ValidationError({"certificate": "This CA certificate is already registered."})
    _type, _bits, algorithm = pki.describe_key(certificate.public_key())
    if reference is None:  # a key to keep; a key generated in the store is already there
        label = new_key_label(organization)
        reference = get_key_store().store_private_key(key, label=label)
    if activate:
        CertificateAuthority.objects.select_for_update().filter(
            organization=organization, is_active=True
        ).update(is_active=False)
    authority = CertificateAuthority(
        organization=organization,
        name=name,
        kind=kind,
        source=source,
        key_algorithm=algorithm,
        certificate_pem=pki.to_pem(certificate),
        chain_pem="".join(pki.to_pem(c) for c in chain),
        subject=certificate.subject.rfc4514_string()[:500],
        serial_hex=pki.serial_hex(certificate.serial_number),
        fingerprint_sha256=pki.fingerprint_sha256(certificate),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        is_active=activate
        or not CertificateAuthority.objects.filter(
            organization=organization, is_active=True
        ).exists(),
        key_label=label,
        key_reference=reference,
        created_by=user_or_none(actor),
    )
    authority.full_clean()
    authority.save()
    ensure_policy(organization, actor=actor)
    record_audit(audit_action, actor=actor, obj=authority, changes={"after": snapshot(authority)})
    record_event(
        "identity.authority_created",
        organization=organization,
        payload={"authority": authority.pk, "name": authority.name, "kind": kind},
    )
    regenerate_crl(authority, actor=actor)
    authority.refresh_from_db()
    return authority


@transaction.atomic
def create_certificate_authority(
    *, organization, actor, name="", key_algorithm="ec-p256", validity_days=3650, activate=True
):
    """Generate a root CA (key in the key store) for ``organization``; it becomes the issuer."""
    ensure_can_create(actor, CertificateAuthority, organization)
    if key_algorithm not in GENERATABLE:
        choices = ", ".join(GENERATABLE)
        raise ValidationError({"key_algorithm": f"Choose one of {choices}."})
    try:
        validity_days = int(validity_days)
    except (TypeError, ValueError) as exc:
        raise ValidationError({"validity_days": "A whole number of days."}) from exc
    if not MIN_CA_DAYS <= validity_days <= MAX_CA_DAYS:
        raise ValidationError({"validity_days": f"Between {MIN_CA_DAYS} and {MAX_CA_DAYS} days."})
    name = (name or "").strip() or f"{organization.name} device CA"
    now = timezone.now()
    store = get_key_store()
    label = reference = None
    if hasattr(store, "generate_private_key"):  # an HSM: the key is born on the token
        label = new_key_label(organization)
        reference = store.generate_private_key(key_algorithm, label=label)
        key = store.load_private_key(reference, label=label)
    else:
        key = pki.generate_private_key(key_algorithm)
    try:
        certificate = pki.build_root_certificate(
            key,
            pki.ca_name(f"{name} {now:%Y-%m}", organization.name),
            now=now,
            validity_days=validity_days,
        )
    except Exception:
        if reference is not None:
            store.destroy(reference)
        raise
    return _save_authority(
        label=label,
        reference=reference,
        organization=organization,
        actor=actor,
        name=name[:200],
        certificate=certificate,
        key=key,
        kind=AuthorityKind.ROOT,
        source=AuthoritySource.GENERATED,
        activate=activate,
        audit_action="identity.certificateauthority.create",
    )


@transaction.atomic
def import_certificate_authority(
    *,
    organization,
    actor,
    certificate_pem,
    private_key_pem,
    password="",
    chain_pem="",
    name="",
    activate=True,
):
    """Register an existing root or intermediate CA with its private key.

    The certificate must be a CA certificate (BasicConstraints CA=true, keyCertSign), currently
    valid for at least 30 days, with an allowed key, and the key must be its key. For an
    intermediate, ``chain_pem`` carries the certificates above it (its issuer first).
    """
    ensure_can_create(actor, CertificateAuthority, organization)
    certificate = pki.load_certificate(certificate_pem)
    key = pki.load_private_key_pem(private_key_pem, password or None)
    chain = pki.load_certificates(chain_pem)
    if not pki.is_ca_certificate(certificate):
        raise ValidationError(
            {"certificate": "Not a CA certificate (BasicConstraints CA=true and keyCertSign)."}
        )
    key_type, bits, algorithm = pki.describe_key(certificate.public_key())
    if algorithm is None or (key_type == KeyType.RSA and bits < 3072):
        raise ValidationError(
            {"certificate": "The CA key must be ECDSA P-256/P-384 or RSA of 3072 bits or more."}
        )
    if not pki.keys_match(key, certificate):
        raise ValidationError({"private_key": "This key does not belong to the certificate."})
    now = timezone.now()
    if certificate.not_valid_before_utc > now:
        raise ValidationError({"certificate": "The CA certificate is not valid yet."})
    if certificate.not_valid_after_utc <= now + datetime.timedelta(days=MIN_CA_DAYS):
        raise ValidationError(
            {"certificate": f"The CA certificate expires within {MIN_CA_DAYS} days."}
        )
    self_signed = pki.is_self_signed(certificate)
    if not self_signed:
        if not chain:
            raise ValidationError(
                {"chain": "An intermediate CA needs its issuer chain, up to the root."}
            )
        issuer = chain[0]
        try:
            certificate.verify_directly_issued_by(issuer)
        except Exception as exc:
            raise ValidationError(
                {"chain": "The first chain certificate did not issue this CA certificate."}
            ) from exc
    name = (name or "").strip() or pki.common_name(certificate.subject) or "Imported CA"
    return _save_authority(
        organization=organization,
        actor=actor,
        name=name[:200],
        certificate=certificate,
        key=key,
        kind=AuthorityKind.ROOT if self_signed else AuthorityKind.INTERMEDIATE,
        source=AuthoritySource.IMPORTED,
        chain=chain,
        activate=activate,
        audit_action="identity.certificateauthority.import",
    )


@transaction.atomic
def activate_certificate_authority(authority, *, actor):
    """Make ``authority`` the organization's issuing CA (others keep verifying what they issued)."""
    ensure_permitted(actor, "change", authority)
    locked = CertificateAuthority.objects.select_for_update().get(pk=authority.pk)
    if locked.is_active:
        return locked
    if locked.is_expired:
        raise ValidationError({"authority": "An expired CA cannot issue certificates."})
    if locked.is_compromised:
        raise ValidationError({"authority": "A compromised CA never issues again."})
    CertificateAuthority.objects.select_for_update().filter(
        organization=locked.organization, is_active=True
    ).update(is_active=False)
    locked.is_active = True
    locked.save(update_fields=["is_active", "updated_at"])
    record_audit(
        "identity.certificateauthority.activate",
        actor=actor,
        obj=locked,
        changes={"is_active": [False, True]},
    )
    record_event(
        "identity.authority_activated",
        organization=locked.organization,
        payload={"authority": locked.pk, "name": locked.name},
    )
    return locked
