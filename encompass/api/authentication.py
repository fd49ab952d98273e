"""API authentication: bearer API keys for integrations, sessions (with TOTP) for the web UI."""

from django.conf import settings
from rest_framework import authentication, exceptions

from encompass.audit.context import set_api_key
from encompass.audit.middleware import client_ip
from encompass.audit.security import record_auth_failure
from encompass.tenancy.models import KEY_PREFIX
from encompass.tenancy.services import authenticate_api_key, explain_api_key_failure, parse_key

from .throttling import AuthFailureThrottle


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer enc_<prefix>_<secret>``."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if parts[0] != self.keyword:
            return None
        throttle = AuthFailureThrottle()
        if len(parts) != 2:
            raise self._refusal(request, throttle, None, "malformed Authorization header")
        key = authenticate_api_key(parts[1], ip=client_ip(request))
        if key is None:
            found, reason = explain_api_key_failure(parts[1])
            raise self._refusal(request, throttle, found, reason, presented=parts[1])
        set_api_key(key.pk)
        return key.user, key

    @staticmethod
    def _refusal(request, throttle, key, reason, presented=""):
        """Audit the failure (on the named key's organization, if any); 401, or 429 when the
        address is past its limit. A valid key never comes here, so a busy address never shuts
        out a working key."""
        parsed = parse_key(presented) if presented else None
        shown = f"{KEY_PREFIX}{parsed[0]}" if parsed else ""
        record_auth_failure(
            "auth.api_key.failed",
            method="api_key",
            reason=reason,
            actor=f"anonymous:{shown}" if shown else "anonymous",
            obj=key,
            object_repr=str(key) if key is not None else shown,
            organizations=[key.organization] if key is not None else [],
            details={"path": request.path[:200]},
        )
        message = (
            "Malformed Authorization header."
            if presented == ""
            else "Invalid, expired, suspended or revoked API key."
        )
        return throttle.refuse(request, exceptions.AuthenticationFailed(message))

    def authenticate_header(self, request):
        return self.keyword


class VerifiedSessionAuthentication(authentication.SessionAuthentication):
    """Session auth that also requires the second factor where the user's roles demand it."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        user = result[0]
        from encompass.tenancy.mfa import needs_second_factor

        if needs_second_factor(request._request, user):
            raise exceptions.AuthenticationFailed(
                "Your role requires a second factor: sign in with your authenticator code."
            )
        return result


def trusted_proxy(request):
    return request.META.get("REMOTE_ADDR") in settings.ENCOMPASS["TRUSTED_PROXIES"]
