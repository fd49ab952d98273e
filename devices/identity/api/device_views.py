"""What devices call: enroll with a one-time token, renew with the current certificate."""

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, permissions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from devices.authentication import DeviceAPIMixin
from encompass.api.throttling import AuthFailureThrottle
from encompass.audit.middleware import client_ip
from encompass.events.choices import Severity
from encompass.events.services import record_event
from encompass.exceptions import ValidationError

from .. import pki, services
from .serializers import EnrollSerializer, IssuedCertificateSerializer, RenewSerializer


def issued(certificate):
    return {
        "device": certificate.device.uid,
        "certificate": certificate.certificate_pem,
        "chain": [pki.to_pem(c) for c in certificate.authority.chain()],
        "serial": certificate.serial_hex,
        "fingerprint_sha256": certificate.fingerprint_sha256,
        "not_before": certificate.not_before,
        "not_after": certificate.not_after,
    }


def _errors(exc):
    if hasattr(exc, "error_dict"):
        return {f: [m for e in errs for m in e.messages] for f, errs in exc.error_dict.items()}
    return {"detail": exc.messages}


class EnrollmentThrottle(AuthFailureThrottle):
    scope = "enrollment_failure"


class EnrollView(APIView):
    """``POST {"token": "enr_...", "csr": "-----BEGIN CERTIFICATE REQUEST-----..."}``.

    Authenticated only by the one-time token in the body. Failures are throttled per address and
    recorded as security events on the device the token named.
    """

    authentication_classes = []
    permission_classes = [permissions.AllowAny]

    @extend_schema(request=EnrollSerializer, responses={201: IssuedCertificateSerializer})
    def post(self, request):
        throttle = EnrollmentThrottle()
        if throttle.is_blocked(request):
            raise exceptions.Throttled(wait=throttle.wait_seconds(request))
        body = EnrollSerializer(data=request.data)
        if not body.is_valid():
            throttle.record_failure(request)
            return Response(body.errors, status=status.HTTP_400_BAD_REQUEST)
        try:
            certificate = services.enroll(
                token=body.validated_data["token"], csr_pem=body.validated_data["csr"]
            )
        except ValidationError as exc:
            throttle.record_failure(request)
            errors = _errors(exc)
            device = getattr(exc, "device", None)
            if device is not None:
                record_event(
                    "security.auth_failure",
                    organization=device.organization,
                    device=device,
                    severity=Severity.WARNING,
                    payload={"method": "enrollment", "errors": errors, "ip": client_ip(request)},
                )
            return Response(errors, status=status.HTTP_400_BAD_REQUEST)
        return Response(issued(certificate), status=status.HTTP_201_CREATED)


class RenewView(DeviceAPIMixin, APIView):
    """``POST {"csr": ...}`` authenticated by the device's current (valid) certificate."""

    @extend_schema(request=RenewSerializer, responses={201: IssuedCertificateSerializer})
    def post(self, request):
        principal = request.user
        if principal.method != "certificate":
            raise exceptions.PermissionDenied(
                "Renewal is authenticated by the current certificate (mutual TLS); a device "
                "without one enrolls with an enrollment token."
            )
        body = RenewSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        certificate = services.renew(
            principal.device, principal.certificate, body.validated_data["csr"]
        )
        return Response(issued(certificate), status=status.HTTP_201_CREATED)
