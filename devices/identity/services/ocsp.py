"""The OCSP responder of each CA: its delegated signing certificate, and the answers."""

import uuid

from cryptography.x509 import ocsp as x509_ocsp
from django.db import transaction
from django.utils import timezone

from encompass.audit.services import record_audit

from .. import ocsp, pki
from ..keystore import get_key_store
from ..models import CertificateAuthority, DeviceCertificate, OcspResponder
from .common import signing_key

JOB = "job:identity-ocsp"


def _current(authority, now):
    return (
        OcspResponder.objects.filter(
            authority=authority,
            not_before__lte=now,
            not_after__gt=now + ocsp.RESPONDER_RENEW_BEFORE,
        )
        .order_by("-not_after")
        .first()
    )


@transaction.atomic
def ensure_ocsp_responder(authority, *, actor=JOB, now=None):
    """The CA's current responder certificate, issued (key in the key store) when there is none
    or the current one ends within ``RESPONDER_RENEW_BEFORE``. Safe to call concurrently."""
    now = (now or timezone.now()).replace(microsecond=0)
    current = _current(authority, now)
    if current is not None:
        return current
    locked = CertificateAuthority.objects.select_for_update().get(pk=authority.pk)
    current = _current(locked, now)
    if current is not None:
        return current
    store = get_key_store()
    label = f"identity-ocsp:{locked.organization_id}:{uuid.uuid4()}"
    key_algorithm = ocsp.responder_key_for(locked.certificate())
    if hasattr(store, "generate_private_key"):
        reference = store.generate_private_key(key_algorithm, label=label)
        key = store.load_private_key(reference, label=label)
    else:
        key = pki.generate_private_key(key_algorithm)
        reference = store.store_private_key(key, label=label)
    not_after = min(now + ocsp.RESPONDER_VALIDITY, locked.not_after)
    certificate = ocsp.build_responder_certificate(
        ca_certificate=locked.certificate(),
        ca_key=signing_key(locked),
        public_key=key.public_key(),
        name=locked.name,
        now=now,
        not_after=not_after,
    )
    responder = OcspResponder.objects.create(
        authority=locked,
        certificate_pem=pki.to_pem(certificate),
        serial_hex=pki.serial_hex(certificate.serial_number),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        key_label=label,
        key_reference=reference,
    )
    record_audit(
        "identity.ocspresponder.issue",
        actor=actor,
        obj=responder,
        organization=locked.organization,
        changes={
            "authority": locked.pk,
            "serial": responder.serial_hex,
            "not_after": responder.not_after.isoformat(),
        },
    )
    return responder


def _find_authority(organization, request):
    for authority in CertificateAuthority.objects.filter(organization=organization):
        name_hash, key_hash = ocsp.issuer_hashes(authority.certificate(), request.hash_algorithm)
        if (name_hash, key_hash) == (request.issuer_name_hash, request.issuer_key_hash):
            return authority
    return None


def _status(authority, serial):
    row = (
        DeviceCertificate.objects.filter(authority=authority, serial_hex=pki.serial_hex(serial))
        .only("revoked_at", "revocation_reason")
        .first()
    )
    if row is None:
        return ("unknown",)
    if row.revoked_at is not None:
        return ("revoked", row.revoked_at, row.revocation_reason)
    return ("good",)


def answer_ocsp(organization, der):
    """DER of the OCSPResponse to ``der`` (an OCSPRequest) sent to ``organization``'s responder.

    A CA of another organization (or none at all) gets ``unauthorized`` (RFC 5019 2.2.3): the
    answer is the same whether that CA exists elsewhere or not.
    """
    request = ocsp.load_request(der)
    if request is None:
        return ocsp.unsuccessful(x509_ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    authority = _find_authority(organization, request) if organization is not None else None
    if authority is None or authority.is_expired:
        return ocsp.unsuccessful(x509_ocsp.OCSPResponseStatus.UNAUTHORIZED)
    now = timezone.now().replace(microsecond=0)
    responder = ensure_ocsp_responder(authority, now=now)
    key = get_key_store().load_private_key(responder.key_reference, label=responder.key_label)
    return ocsp.build_answer(
        request=request,
        responder_certificate=responder.certificate(),
        responder_key=key,
        status=_status(authority, request.serial_number),
        now=now,
    )
