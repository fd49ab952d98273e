"""X.509 building blocks (``cryptography``): keys, CSRs, CA and device certificates, CRLs.

Pure functions over ``cryptography`` objects; the services decide what to issue and record it.
"""

import datetime
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from encompass.exceptions import ValidationError

from .choices import CRL_REASON_FLAGS, KeyAlgorithm, KeyType, RevocationReason

CLOCK_SKEW = datetime.timedelta(minutes=5)
MAX_PEM_BYTES = 64 * 1024
DEVICE_URN = "urn:encompass:device:"


# --- keys ------------------------------------------------------------------------------------


def generate_private_key(algorithm):
    if algorithm == KeyAlgorithm.EC_P256:
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == KeyAlgorithm.EC_P384:
        return ec.generate_private_key(ec.SECP384R1())
    if algorithm in (KeyAlgorithm.RSA_2048, KeyAlgorithm.RSA_3072, KeyAlgorithm.RSA_4096):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(algorithm[4:]))
    raise ValidationError({"key_algorithm": f"Unsupported key algorithm {algorithm!r}."})


def describe_key(public_key):
    """``(KeyType, bits, KeyAlgorithm | None)`` of a public key; ``(None, 0, None)`` if foreign."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        bits = public_key.curve.key_size
        algorithm = {
            "secp256r1": KeyAlgorithm.EC_P256,
            "secp384r1": KeyAlgorithm.EC_P384,
        }.get(public_key.curve.name)
        return KeyType.EC, bits, algorithm
    if isinstance(public_key, rsa.RSAPublicKey):
        bits = public_key.key_size
        algorithm = {2048: KeyAlgorithm.RSA_2048, 3072: KeyAlgorithm.RSA_3072}.get(
            bits, KeyAlgorithm.RSA_4096 if bits >= 4096 else None
        )
        return KeyType.RSA, bits, algorithm
    return None, 0, None


def key_policy_problem(public_key, policy):
    """Why ``public_key`` is not acceptable under ``policy``; ``None`` when it is."""
    key_type, bits, algorithm = describe_key(public_key)
    if key_type is None:
        return "Only ECDSA (P-256, P-384) and RSA keys are accepted."
    if key_type not in policy.allowed_key_types:
        allowed = ", ".join(KeyType(t).label for t in policy.allowed_key_types)
        return f"{KeyType(key_type).label} keys are not allowed by the policy (allowed: {allowed})."
    if key_type == KeyType.EC:
        if algorithm is None:
            return "Only the NIST P-256 and P-384 curves are accepted."
        if bits < policy.min_ec_bits:
            return f"The policy requires an EC key of at least {policy.min_ec_bits} bits."
    if key_type == KeyType.RSA and bits < policy.min_rsa_bits:
        return f"RSA key of {bits} bits is below the policy minimum of {policy.min_rsa_bits} bits."
    return None


def signature_hash(key):
    """SHA-384 for P-384 (and larger RSA) keys, SHA-256 otherwise."""
    if hasattr(key, "public_key") and callable(key.public_key):
        key = key.public_key()
    key_type, bits, _ = describe_key(key)
    if (key_type == KeyType.EC and bits >= 384) or (key_type == KeyType.RSA and bits >= 4096):
        return hashes.SHA384()
    return hashes.SHA256()


def spki_sha256(public_key):
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def fingerprint_sha256(certificate):
    return certificate.fingerprint(hashes.SHA256()).hex()


def serial_hex(serial):
    return format(serial, "X")


def to_pem(certificate):
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def keys_match(private_key, certificate):
    return spki_sha256(private_key.public_key()) == spki_sha256(certificate.public_key())


# --- parsing what clients send -----------------------------------------------------------------


def _as_bytes(text, field):
    if isinstance(text, str):
        text = text.encode()
    if not text or not text.strip():
        raise ValidationError({field: "This field is required."})
    if len(text) > MAX_PEM_BYTES:
        raise ValidationError({field: "Too large to be a PEM document."})
    return text.strip() + b"\n"


def load_csr(pem, field="csr"):
    data = _as_bytes(pem, field)
    try:
        csr = x509.load_pem_x509_csr(data)
    except ValueError as exc:
        raise ValidationError(
            {field: "Not a PEM certificate signing request (-----BEGIN CERTIFICATE REQUEST-----)."}
        ) from exc
    try:
        valid = csr.is_signature_valid
    except Exception:  # an unsupported signature algorithm surfaces here
        valid = False
    if not valid:
        raise ValidationError(
            {field: "The CSR signature does not verify: it was not signed by its own key."}
        )
    return csr


def load_certificate(pem, field="certificate"):
    data = _as_bytes(pem, field)
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        raise ValidationError({field: "Not a PEM certificate."}) from exc


def load_certificates(pem, field="chain"):
    if not pem or not str(pem).strip():
        return []
    try:
        return x509.load_pem_x509_certificates(_as_bytes(pem, field))
    except ValueError as exc:
        raise ValidationError({field: "Not a sequence of PEM certificates."}) from exc


def load_private_key_pem(pem, password=None, field="private_key"):
    data = _as_bytes(pem, field)
    try:
        return serialization.load_pem_private_key(
            data, password=password.encode() if password else None
        )
    except TypeError as exc:
        raise ValidationError({field: "The key is encrypted: give its password."}) from exc
    except ValueError as exc:
        raise ValidationError({field: "Not a PEM private key, or the password is wrong."}) from exc


def common_name(name):
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return values[0].value if values else ""


def requests_ca(csr):
    """True when the CSR asks for CA powers (BasicConstraints CA=true or keyCertSign/cRLSign)."""
    for ext in csr.extensions:
        value = ext.value
        if isinstance(value, x509.BasicConstraints) and value.ca:
            return True
        if isinstance(value, x509.KeyUsage) and (value.key_cert_sign or value.crl_sign):
            return True
    return False


# --- building ----------------------------------------------------------------------------------


def _key_usage(**set_true):
    flags = dict.fromkeys(
        (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    flags.update(set_true)
    return x509.KeyUsage(**flags)


def ca_name(common, organization_name):
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common[:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization_name[:64]),
        ]
    )


def build_root_certificate(key, subject, *, now, validity_days, path_length=0):
    """A self-signed CA; ``path_length=0``: it issues device certificates only."""
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + datetime.timedelta(days=validity_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
    )
    return sign(builder, key)


def _ca_ski(ca_certificate):
    try:
        return ca_certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.SubjectKeyIdentifier.from_public_key(ca_certificate.public_key())


def sign(builder, key):
    """Sign a ``cryptography`` builder (certificate, CRL, OCSP response) with ``key``.

    ``key`` is a ``cryptography`` private key, or a key-store key that signs elsewhere (a token)
    and offers ``sign_builder``.
    """
    if hasattr(key, "sign_builder"):
        return key.sign_builder(builder, signature_hash(key))
    return builder.sign(key, signature_hash(key))


def authority_information_access(*, ocsp_url, ca_issuers_url):
    return x509.AuthorityInformationAccess(
        [
            x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url)
            ),
            x509.AccessDescription(
                AuthorityInformationAccessOID.CA_ISSUERS,
                x509.UniformResourceIdentifier(ca_issuers_url),
            ),
        ]
    )


def build_device_certificate(
    *,
    ca_certificate,
    ca_key,
    public_key,
    device_uid,
    organization_name,
    not_after,
    now,
    crl_url,
    ocsp_url=None,
    ca_issuers_url=None,
):
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, device_uid),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization_name[:64]),
        ]
    )
    key_type, _bits, _alg = describe_key(public_key)
    usage = (
        _key_usage(digital_signature=True, key_agreement=True)
        if key_type == KeyType.EC
        else _key_usage(digital_signature=True, key_encipherment=True)
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_certificate.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(_ca_ski(ca_certificate)),
            critical=False,
        )
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(f"{DEVICE_URN}{device_uid}")]
            ),
            critical=False,
        )
        .add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        full_name=[x509.UniformResourceIdentifier(crl_url)],
                        relative_name=None,
                        reasons=None,
                        crl_issuer=None,
                    )
                ]
            ),
            critical=False,
        )
    )
    if ocsp_url:
        builder = builder.add_extension(
            authority_information_access(ocsp_url=ocsp_url, ca_issuers_url=ca_issuers_url),
            critical=False,
        )
    return sign(builder, ca_key)


def build_crl(*, ca_certificate, ca_key, revoked, number, now, next_update):
    """``revoked``: iterable of ``(serial_int, revoked_at, RevocationReason)``."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_certificate.subject)
        .last_update(now)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(_ca_ski(ca_certificate)),
            critical=False,
        )
    )
    for serial, revoked_at, reason in revoked:
        entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(revoked_at)
        # RFC 5280 5.3.1: the reason code "unspecified" SHOULD be absent rather than present.
        if reason and reason != RevocationReason.UNSPECIFIED:
            entry = entry.add_extension(x509.CRLReason(CRL_REASON_FLAGS[reason]), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    return sign(builder, ca_key)


def is_ca_certificate(certificate):
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    if not constraints.ca:
        return False
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return usage.key_cert_sign


def is_self_signed(certificate):
    if certificate.issuer != certificate.subject:
        return False
    try:
        certificate.verify_directly_issued_by(certificate)
    except (ValueError, TypeError, Exception):  # InvalidSignature is not a ValueError
        return False
    return True
