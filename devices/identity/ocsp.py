"""OCSP (RFC 6960) building blocks over ``cryptography.x509.ocsp``: the delegated responder
certificate, matching a request to a CA, and the signed answer. Pure functions; the service in
``services/ocsp.py`` decides and records.
"""

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from . import pki
from .choices import CRL_REASON_FLAGS, RevocationReason

RESPONDER_VALIDITY = datetime.timedelta(days=30)
# A responder certificate is replaced once less than this is left (rotated before it expires).
RESPONDER_RENEW_BEFORE = datetime.timedelta(days=10)
# How long an answer may be trusted (nextUpdate); revocations show at once on the next query.
ANSWER_VALIDITY = datetime.timedelta(hours=1)
MAX_REQUEST_BYTES = 16 * 1024


def responder_key_for(ca_certificate):
    """P-384 for a P-384 CA, P-256 otherwise."""
    public = ca_certificate.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey) and public.curve.key_size >= 384:
        return "ec-p384"
    return "ec-p256"


def build_responder_certificate(*, ca_certificate, ca_key, public_key, name, now, not_after):
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"{name} OCSP responder"[:64]),
            *ca_certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME),
        ]
    )
    ca_ski = ca_certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_certificate.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - pki.CLOCK_SKEW)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(pki._key_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        # RFC 6960 4.2.2.2.1: clients need not check the responder's own revocation.
        .add_extension(x509.OCSPNoCheck(), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
    )
    return pki.sign(builder, ca_key)


def _key_bits(public_key):
    """The subjectPublicKey BIT STRING content, which issuerKeyHash hashes (RFC 6960 4.1.1)."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)


def issuer_hashes(ca_certificate, algorithm):
    """``(issuerNameHash, issuerKeyHash)`` of a CA under the request's hash algorithm."""
    name = hashes.Hash(algorithm)
    name.update(ca_certificate.subject.public_bytes())
    key = hashes.Hash(algorithm)
    key.update(_key_bits(ca_certificate.public_key()))
    return name.finalize(), key.finalize()


def load_request(der):
    """The parsed request, or ``None`` when it is not one we can answer (malformedRequest)."""
    if not der or len(der) > MAX_REQUEST_BYTES:
        return None
    try:
        request = ocsp.load_der_ocsp_request(der)
        request.serial_number  # noqa: B018  (more than one request, or garbage, fails here)
    except (ValueError, TypeError):
        return None
    return request


def nonce_of(request):
    try:
        return request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        return None


def unsuccessful(status):
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(
        serialization.Encoding.DER
    )


def build_answer(*, request, responder_certificate, responder_key, status, now):
    """A signed BasicOCSPResponse for the one request; ``status``: ``("good"|"unknown",)`` or
    ``("revoked", revoked_at, RevocationReason)``. The request's nonce is echoed."""
    revoked_at = reason = None
    if status[0] == "good":
        cert_status = ocsp.OCSPCertStatus.GOOD
    elif status[0] == "revoked":
        cert_status = ocsp.OCSPCertStatus.REVOKED
        revoked_at = status[1]
        if status[2] and status[2] != RevocationReason.UNSPECIFIED:
            reason = CRL_REASON_FLAGS[status[2]]
    else:
        cert_status = ocsp.OCSPCertStatus.UNKNOWN

    def make(signer_certificate):
        return _answer_builder(request, signer_certificate, cert_status, revoked_at, reason, now)

    if hasattr(responder_key, "sign_ocsp"):  # a key on a token
        response = responder_key.sign_ocsp(make, responder_certificate)
    else:
        response = make(responder_certificate).sign(
            responder_key, pki.signature_hash(responder_key)
        )
    return response.public_bytes(serialization.Encoding.DER)


def _answer_builder(request, responder_certificate, cert_status, revoked_at, reason, now):
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response_by_hash(
            issuer_name_hash=request.issuer_name_hash,
            issuer_key_hash=request.issuer_key_hash,
            serial_number=request.serial_number,
            algorithm=request.hash_algorithm,
            cert_status=cert_status,
            this_update=now,
            next_update=now + ANSWER_VALIDITY,
            revocation_time=revoked_at,
            revocation_reason=reason,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, responder_certificate)
        .certificates([responder_certificate])
    )
    nonce = nonce_of(request)
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder
