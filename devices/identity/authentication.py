"""Certificate authentication of devices: the client certificate the TLS proxy verified.

The proxy terminates mutual TLS and forwards the client certificate in the header named by
``ENCOMPASS["CLIENT_CERT_HEADER"]`` (URL-encoded PEM as nginx's ``$ssl_client_escaped_cert``
sends it, or plain PEM). The header is believed **only** when the request comes from an address
in ``ENCOMPASS["TRUSTED_PROXIES"]``; from anywhere else it is ignored, so a client that talks to
the platform directly cannot claim to be a device by setting it.

The platform does not rely on the proxy's verdict: the certificate must be one this platform
issued (known fingerprint), chain to the organization's CA (``cryptography``'s X.509 verifier,
client-auth policy, at the current time), be unrevoked, and name the device it was issued to.
"""

import datetime
import logging
import re
from urllib.parse import unquote

from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError
from django.conf import settings
from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed

from devices.choices import LifecycleState
from devices.models import Device
from encompass.api.authentication import trusted_proxy
from encompass.audit.middleware import client_ip
from encompass.audit.security import record_auth_failure

from . import pki
from .models import DeviceCertificate

logger = logging.getLogger(__name__)

RETIRED = frozenset(
    {LifecycleState.DECOMMISSIONED, LifecycleState.DISPOSED, LifecycleState.DECOMMISSIONING}
)
TOUCH_EVERY = datetime.timedelta(minutes=5)
_PEM_RE = re.compile(r"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.S)


def header_meta_key():
    name = settings.ENCOMPASS["CLIENT_CERT_HEADER"]
    return "HTTP_" + name.upper().replace("-", "_")


def pem_from_header(raw):
    """The PEM text of a forwarded certificate: URL-decoded, and re-wrapped if the proxy folded
    its newlines into spaces."""
    text = unquote(raw) if "%" in raw else raw
    match = _PEM_RE.search(text)
    if match is None:
        return None
    body = re.sub(r"\s+", "", match.group(1))
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def _refuse(request, reason, device=None, certificate=None):
    record_auth_failure(
        "auth.device.failed",
        method="certificate",
        reason=reason,
        actor=f"device:{device.uid}" if device is not None else "anonymous",
        obj=device,
        object_repr=device.uid if device is not None else "",
        device=device,
        details={
            "serial": pki.serial_hex(certificate.serial_number) if certificate else None,
        },
    )
    logger.warning("device certificate refused from %s: %s", client_ip(request), reason)
    return AuthenticationFailed(f"Client certificate refused: {reason}")


def _device_named_by(certificate):
    cn = pki.common_name(certificate.subject)
    if not cn:
        return None
    return Device.objects.select_related("organization", "site").filter(uid=cn).first()


def authenticate_certificate(request):
    """``(device, DeviceCertificate)`` for a forwarded client certificate; ``None`` without one.

    Registered with ``devices.authentication.register_certificate_authenticator``.
    """
    raw = request.META.get(header_meta_key(), "").strip()
    if not raw or raw == "(null)":
        return None
    if not trusted_proxy(request):
        logger.warning(
            "ignored a client-certificate header from untrusted address %s",
            request.META.get("REMOTE_ADDR"),
        )
        return None
    pem = pem_from_header(raw)
    try:
        certificate = x509.load_pem_x509_certificate(pem.encode()) if pem else None
    except ValueError:
        certificate = None
    if certificate is None:
        raise _refuse(request, "the forwarded header is not a PEM certificate.")
    record = (
        DeviceCertificate.objects.select_related(
            "device__organization", "device__site", "device__device_type", "authority"
        )
        .filter(fingerprint_sha256=pki.fingerprint_sha256(certificate))
        .first()
    )
    if record is None:
        raise _refuse(
            request,
            "not issued by this platform (unknown certificate or foreign CA).",
            _device_named_by(certificate),
            certificate,
        )
    device = record.device
    authority = record.authority
    now = timezone.now()
    if authority.organization_id != device.organization_id:
        raise _refuse(request, "issued by another organization's CA.", device, certificate)
    if authority.compromised_at is not None:
        raise _refuse(
            request,
            "issued by a CA that was declared compromised; re-enroll the device.",
            device,
            certificate,
        )
    try:
        verifier = (
            PolicyBuilder().store(Store([authority.certificate()])).time(now)
        ).build_client_verifier()
        verifier.verify(certificate, [])
    except VerificationError as exc:
        if record.not_after <= now:
            raise _refuse(request, "the certificate has expired.", device, certificate) from exc
        if record.not_before > now:
            raise _refuse(
                request, "the certificate is not valid yet.", device, certificate
            ) from exc
        raise _refuse(
            request, "it does not verify against the organization's CA.", device, certificate
        ) from exc
    if record.revoked_at is not None:
        raise _refuse(
            request,
            f"the certificate is revoked ({record.get_revocation_reason_display()}).",
            device,
            certificate,
        )
    if pki.common_name(certificate.subject) != device.uid:
        raise _refuse(request, "the certificate does not name its device.", device, certificate)
    if device.state in RETIRED:
        raise _refuse(request, f"the device is {device.get_state_display().lower()}.", device)
    if record.last_authenticated_at is None or now - record.last_authenticated_at > TOUCH_EVERY:
        DeviceCertificate.objects.filter(pk=record.pk).update(last_authenticated_at=now)
        record.last_authenticated_at = now
    return device, record
