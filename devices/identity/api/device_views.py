"""What devices call: enroll with a one-time token, renew with the current certificate."""

import logging

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, permissions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from devices.authentication import DeviceAPIMixin
from encompass.api.throttling import AuthFailureThrottle
from encompass.audit.security import record_auth_failure
from encompass.exceptions import ValidationError

from .. import pki, services
from ..keystore import KeyStoreError
from .serializers import EnrollSerializer, IssuedCertificateSerializer, RenewSerializer

logger = logging.getLogger(__name__)


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


def key_store_unavailable():
    """The CA key store (an HSM token) cannot sign: nothing was issued; try again later."""
    logger.error("certificate not issued: the CA key store is unavailable", exc_info=True)
    response = Response(
        {"detail": "The certificate authority is temporarily unavailable; nothing was issued."},
        status=status.HTTP_503_SERVICE_UNAVAILABLE,
    )
    response["Retry-After"] = "60"
    return response


def _errors(exc):
    if hasattr(exc, "error_dict"):
        return {f: [m for e in errs for m in e.messages] for f, errs in exc.error_dict.items()}
    return {"detail": exc.messages}


class EnrollmentThrottle(AuthFailureThrottle):
    scope = "enrollment_failure"


class EnrollView(APIView):
    """``POST {"token": "enr_...", "csr": "-----BEGIN CERTIFICATE REQUEST-----..."}``.

    Authenticated only by the one-time token in the body. Failures are audited and recorded as
    security events on the device the token named; an address past the failure limit gets 429
    for its failures, while a good token still enrolls (encompass/api/throttling.py).
    """

    authentication_classes = []
    permission_classes = [permissions.AllowAny]

    @extend_schema(request=EnrollSerializer, responses={201: IssuedCertificateSerializer})
    def post(self, request):
        throttle = EnrollmentThrottle()
        body = EnrollSerializer(data=request.data)
        if not body.is_valid():
            return self._refused(request, throttle, body.errors)
        try:
            certificate = services.enroll(
                token=body.validated_data["token"], csr_pem=body.validated_data["csr"]
            )
        except KeyStoreError:
            return key_store_unavailable()
        except ValidationError as exc:
            return self._refused(request, throttle, _errors(exc), getattr(exc, "device", None))
        return Response(issued(certificate), status=status.HTTP_201_CREATED)

    @staticmethod
    def _refused(request, throttle, errors, device=None):
        record_enrollment_refusal(
            request, throttle, errors, device, method="enrollment", reason="enrollment refused"
        )
        return Response(errors, status=status.HTTP_400_BAD_REQUEST)


def record_enrollment_refusal(request, throttle, errors, device, *, method, reason):
    """Audit a refused enrollment (on the device the token named, if any), and raise the 429 once
    the address is past its limit; the caller answers the refusal in its own protocol. A good
    token never comes here, so a busy address does not stop the devices behind it enrolling."""
    record_auth_failure(
        "auth.enrollment.failed",
        method=method,
        reason=reason,
        actor=f"device:{device.uid}" if device is not None else "anonymous",
        obj=device,
        object_repr=device.uid if device is not None else "",
        device=device,
        details={"errors": errors},
    )
    refusal = throttle.refuse(request, None)
    if refusal is not None:
        raise refusal


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
        try:
            certificate = services.renew(
                principal.device, principal.certificate, body.validated_data["csr"]
            )
        except KeyStoreError:
            return key_store_unavailable()
        return Response(issued(certificate), status=status.HTTP_201_CREATED)
