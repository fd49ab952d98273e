"""Service certificates for the MQTT broker (TLS server) and the bridge (TLS client).

Both are signed by the issuing CA of the *operator organization* (the one that runs the broker),
through the identity app's key store, and each issue is audited on that organization's chain
(``mqtt.servicecertificate.issue``). They are not device certificates: no device row, no entry in
the CRL. They are short-lived (``ENCOMPASS["MQTT"]["SERVICE_CERT_DAYS"]``, 90 days) and
``mqtt_broker_config`` issues fresh ones whenever it runs with ``--issue``.
"""

import datetime
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.db import transaction
from django.utils import timezone

from devices.identity import pki
from devices.identity.models import CertificateAuthority
from devices.identity.services import active_authority, signing_key
from encompass.audit.services import record_audit
from encompass.exceptions import ValidationError
from encompass.tenancy.access import ensure_can_create

SERVER, CLIENT = "server", "client"


def _san(names):
    entries = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def _build(authority, key, *, common_name, purpose, names, now, not_after):
    ca_certificate = authority.certificate()
    usage = pki._key_usage(digital_signature=True, key_agreement=True)
    eku = ExtendedKeyUsageOID.SERVER_AUTH if purpose == SERVER else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, authority.organization.name[:64]),
                ]
            )
        )
        .issuer_name(ca_certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - pki.CLOCK_SKEW)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                pki._ca_ski(ca_certificate)
            ),
            critical=False,
        )
    )
    if names:
        builder = builder.add_extension(_san(names), critical=False)
    return pki.sign(builder, signing_key(authority))  # the CA key may be on a token


@transaction.atomic
def issue_service_certificate(organization, *, actor, common_name, purpose, names=(), days=90):
    """A fresh P-256 key and a certificate for it: ``(key_pem, certificate_pem, chain_pem)``.

    ``purpose`` is ``"server"`` (the broker; ``names`` become its subject alternative names) or
    ``"client"`` (the bridge; ``common_name`` becomes its Mosquitto username). Only those who may
    create the organization's CAs (Admin, Security officer) may issue them.
    """
    if purpose not in (SERVER, CLIENT):
        raise ValidationError({"purpose": "Either server or client."})
    ensure_can_create(actor, CertificateAuthority, organization)
    if common_name.startswith("dev_"):
        raise ValidationError({"common_name": "dev_ names are device identities."})
    authority = active_authority(organization)
    if authority is None:
        raise ValidationError(
            {"authority": f"{organization} has no certificate authority yet; create one first."}
        )
    now = timezone.now().replace(microsecond=0)
    not_after = min(now + datetime.timedelta(days=days), authority.not_after)
    key = pki.generate_private_key("ec-p256")
    certificate = _build(
        authority,
        key,
        common_name=common_name,
        purpose=purpose,
        names=list(names),
        now=now,
        not_after=not_after,
    )
    record_audit(
        "mqtt.servicecertificate.issue",
        actor=actor,
        obj=authority,
        changes={
            "purpose": purpose,
            "common_name": common_name,
            "names": list(names),
            "serial": pki.serial_hex(certificate.serial_number),
            "fingerprint_sha256": pki.fingerprint_sha256(certificate),
            "not_after": not_after.isoformat(),
        },
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    chain_pem = authority.certificate_pem + (authority.chain_pem or "")
    return key_pem, pki.to_pem(certificate), chain_pem
