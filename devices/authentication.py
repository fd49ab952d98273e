"""How devices authenticate to the device API (``/api/device/v1/``).

Two credentials, tried in this order:

1. the client certificate the TLS proxy verified and forwarded (header named by
   ``ENCOMPASS["CLIENT_CERT_HEADER"]``, believed only from ``ENCOMPASS["TRUSTED_PROXIES"]``),
   checked by the certificate authenticator ``devices.identity`` registers;
2. a per-device token: ``Authorization: Device dtk_<prefix>_<secret>``.

A request that presents a credential which does not verify is refused (401; 429 once its address
is past the auth-failure limit), audited, and never falls through to another method. A credential
that verifies is accepted whatever its address has been doing (encompass/api/throttling.py).
"""

from dataclasses import dataclass

from rest_framework import authentication, exceptions, permissions

from encompass.api.throttling import AuthFailureThrottle
from encompass.audit.security import record_auth_failure

from .services import device_for_token, device_named_by_token

_certificate_authenticators = []


def register_certificate_authenticator(func):
    """``func(request) -> (device, certificate) | None``; raise AuthenticationFailed to refuse."""
    if func not in _certificate_authenticators:
        _certificate_authenticators.append(func)


def _audit_token_failure(request, token, reason):
    """A refused device token, on the chain of the device its prefix names (if any)."""
    device = device_named_by_token(token)
    prefix = token.split("_")[1][:8] if token.count("_") >= 2 else ""
    record_auth_failure(
        "auth.device.failed",
        method="device_token",
        reason=reason,
        actor=f"device:{device.uid}" if device is not None else "anonymous",
        obj=device,
        object_repr=device.uid if device is not None else (f"dtk_{prefix}" if prefix else ""),
        device=device,
        details={"path": request.path[:200]},
    )


@dataclass
class DevicePrincipal:
    """``request.user`` for a device request: the device, and how it proved who it is."""

    device: object
    method: str  # "certificate" or "token"
    certificate: object = None

    is_authenticated = True
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None

    def __str__(self):
        return f"device:{self.device.uid}"


class DeviceAuthentication(authentication.BaseAuthentication):
    keyword = "Device"

    def authenticate(self, request):
        throttle = AuthFailureThrottle("device_auth_failure")
        try:
            for authenticator in _certificate_authenticators:
                found = authenticator(request)
                if found is not None:
                    device, certificate = found
                    return DevicePrincipal(device, "certificate", certificate), certificate
            header = authentication.get_authorization_header(request).decode("latin-1").split()
            if not header or header[0] != self.keyword:
                return None
            if len(header) != 2:
                _audit_token_failure(request, "", "malformed device Authorization header")
                raise exceptions.AuthenticationFailed("Malformed device Authorization header.")
            device = device_for_token(header[1])
            if device is None:
                _audit_token_failure(request, header[1], "unknown or rotated device token")
                raise exceptions.AuthenticationFailed("Unknown or rotated device token.")
            return DevicePrincipal(device, "token"), None
        except exceptions.AuthenticationFailed as exc:
            # A credential that verifies never comes here: a busy address behind a NAT does
            # not shut out the devices there whose credentials are good.
            raise throttle.refuse(request, exc) from None

    def authenticate_header(self, request):
        return self.keyword


class IsDevice(permissions.BasePermission):
    message = "Device credentials required."

    def has_permission(self, request, view):
        return isinstance(request.user, DevicePrincipal)


class DeviceAPIMixin:
    """Base for device API views: device credentials only, never a staff session."""

    authentication_classes = [DeviceAuthentication]
    permission_classes = [IsDevice]

    @property
    def device(self):
        return self.request.user.device
