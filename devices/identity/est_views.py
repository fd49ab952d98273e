"""EST (RFC 7030) for devices, an adapter over the enrollment and renewal services.

``/.well-known/est/[<organization>/]cacerts | simpleenroll | simplereenroll | csrattrs``; the
optional label (RFC 7030 3.2.2) is the organization's slug. Requests and answers are base64 DER
(PKCS#10 in, PKCS#7 certs-only out). ``simpleenroll`` is authorized by the one-time enrollment
token (HTTP Basic: the device id as user name, the token as password), ``simplereenroll`` by the
current certificate (mutual TLS at the proxy, as ``/api/device/v1/certificate/renew``). The
checks, audit entries and events are those of ``services.enroll`` / ``services.renew``.
"""

import base64
import binascii
import textwrap

from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
from django.http import Http404, HttpResponse
from rest_framework import exceptions
from rest_framework.views import APIView

from devices.authentication import DeviceAPIMixin
from encompass.exceptions import ValidationError
from encompass.tenancy.models import Organization

from . import der, services
from .api.device_views import (
    EnrollmentThrottle,
    _errors,
    key_store_unavailable,
    record_enrollment_refusal,
)
from .choices import KeyType
from .keystore import KeyStoreError
from .models import CertificateAuthority

MAX_BODY = 64 * 1024
# CSR attributes (RFC 7030 4.5.2): what a CSR should carry under the organization's policy.
OID_ECDSA_SHA256 = "1.2.840.10045.4.3.2"
OID_ECDSA_SHA384 = "1.2.840.10045.4.3.3"
OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
OID_P256, OID_P384 = "1.2.840.10045.3.1.7", "1.3.132.0.34"
OID_RSA, OID_SHA256_RSA = "1.2.840.113549.1.1.1", "1.2.840.113549.1.1.11"


def _base64_answer(data, content_type, status=200):
    body = "\r\n".join(textwrap.wrap(base64.b64encode(data).decode(), 64)) + "\r\n"
    response = HttpResponse(body, content_type=content_type, status=status)
    response["Content-Transfer-Encoding"] = "base64"
    return response


def _certs_only(certificates):
    return _base64_answer(
        pkcs7.serialize_certificates(certificates, Encoding.DER),
        "application/pkcs7-mime; smime-type=certs-only",
    )


def _text(message, status, **headers):
    response = HttpResponse(message + "\n", content_type="text/plain; charset=utf-8", status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _unavailable():
    key_store_unavailable()  # (logs it)
    return _text("The certificate authority is temporarily unavailable.", 503, Retry_After="60")


def _organization(label):
    organization = Organization.objects.filter(slug=label).first() if label else None
    if label and organization is None:
        raise Http404("No such EST label.")
    return organization


def _csr_pem(request):
    """The base64 DER PKCS#10 body as PEM (the services parse and check it)."""
    if request.content_type != "application/pkcs10":
        raise ValidationError({"csr": "Send the CSR as application/pkcs10 (base64 DER)."})
    raw = request.body
    if not raw or len(raw) > MAX_BODY:
        raise ValidationError({"csr": "The request body must be a base64 PKCS#10 CSR."})
    try:
        der_bytes = base64.b64decode(b"".join(raw.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationError({"csr": "The request body is not base64."}) from exc
    body = "\n".join(textwrap.wrap(base64.b64encode(der_bytes).decode(), 64))
    return f"-----BEGIN CERTIFICATE REQUEST-----\n{body}\n-----END CERTIFICATE REQUEST-----\n"


def _messages(errors):
    return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in errors.items())


class CaCertsView(DeviceAPIMixin, APIView):
    """``GET cacerts``: the organization's CA certificates (issuing CA first), PKCS#7."""

    schema = None  # EST (RFC 7030) is not part of the JSON API's OpenAPI schema

    permission_classes = []

    def get(self, request, label=None):
        organization = _organization(label)
        if organization is None and getattr(request.user, "device", None) is not None:
            organization = request.user.device.organization
        if organization is None:
            raise Http404("Give the organization as the EST label: /.well-known/est/<org>/cacerts.")
        seen, certificates = set(), []
        for ca in CertificateAuthority.objects.filter(organization=organization).order_by(
            "-is_active", "-not_after"
        ):
            if ca.is_expired or ca.is_compromised:
                continue
            for cert in ca.chain():
                if cert.fingerprint(cert.signature_hash_algorithm) not in seen:
                    seen.add(cert.fingerprint(cert.signature_hash_algorithm))
                    certificates.append(cert)
        if not certificates:
            raise Http404("This organization has no certificate authority.")
        return _certs_only(certificates)


class SimpleEnrollView(APIView):
    """``POST simpleenroll`` with HTTP Basic ``<device id>:<enrollment token>``."""

    schema = None  # EST (RFC 7030) is not part of the JSON API's OpenAPI schema

    authentication_classes = []
    permission_classes = []

    def post(self, request, label=None):
        throttle = EnrollmentThrottle()
        auth = request.META.get("HTTP_AUTHORIZATION", "").split()
        user = token = ""
        if len(auth) == 2 and auth[0].lower() == "basic":
            try:
                user, _sep, token = base64.b64decode(auth[1]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                user = token = ""
        if not token:
            return _text(
                "EST enrollment needs HTTP Basic: the device id and the enrollment token.",
                401,
                WWW_Authenticate='Basic realm="encompass-est"',
            )
        found = services.find_token(token)
        device = found.device if found is not None else None
        organization = _organization(label)
        if device is not None and (
            device.uid != user or (organization is not None and device.organization != organization)
        ):
            return self._refused(request, throttle, {"token": ["Unknown enrollment token."]}, None)
        try:
            csr_pem = _csr_pem(request)
            certificate = services.enroll(token=token, csr_pem=csr_pem)
        except KeyStoreError:
            return _unavailable()
        except ValidationError as exc:
            return self._refused(request, throttle, _errors(exc), getattr(exc, "device", device))
        return _certs_only([certificate.certificate()])

    @staticmethod
    def _refused(request, throttle, errors, device):
        record_enrollment_refusal(
            request, throttle, errors, device, method="est", reason="EST enrollment refused"
        )
        if "token" in errors:
            return _text(_messages(errors), 401, WWW_Authenticate='Basic realm="encompass-est"')
        return _text(_messages(errors), 400)


class SimpleReenrollView(DeviceAPIMixin, APIView):
    """``POST simplereenroll`` authenticated by the current certificate (mutual TLS)."""

    schema = None  # EST (RFC 7030) is not part of the JSON API's OpenAPI schema

    def post(self, request, label=None):
        principal = request.user
        if principal.method != "certificate":
            raise exceptions.PermissionDenied(
                "EST re-enrollment is authenticated by the current certificate (mutual TLS)."
            )
        organization = _organization(label)
        if organization is not None and principal.device.organization != organization:
            raise Http404("No such EST label.")
        try:
            certificate = services.renew(principal.device, principal.certificate, _csr_pem(request))
        except ValidationError as exc:
            return _text(_messages(_errors(exc)), 400)
        return _certs_only([certificate.certificate()])


class CsrAttrsView(DeviceAPIMixin, APIView):
    """``GET csrattrs``: the key type and signature the organization's policy wants."""

    schema = None  # EST (RFC 7030) is not part of the JSON API's OpenAPI schema

    permission_classes = []

    def get(self, request, label=None):
        organization = _organization(label)
        if organization is None and getattr(request.user, "device", None) is not None:
            organization = request.user.device.organization
        if organization is None:
            return HttpResponse(status=204)  # RFC 7030 4.5.2: no attributes required
        policy = services.policy_for(organization)
        items = []
        if KeyType.EC in policy.allowed_key_types:
            curve = OID_P384 if policy.min_ec_bits >= 384 else OID_P256
            items.append(der.sequence(der.oid(OID_EC_PUBLIC_KEY), der.set_of(der.oid(curve))))
            items.append(
                der.oid(OID_ECDSA_SHA384 if policy.min_ec_bits >= 384 else OID_ECDSA_SHA256)
            )
        else:
            items.append(der.oid(OID_RSA))
            items.append(der.oid(OID_SHA256_RSA))
        return _base64_answer(der.sequence(*items), "application/csrattrs")
