"""API authentication: bearer API keys for integrations, sessions (with TOTP) for the web UI."""

from django.conf import settings
from rest_framework import authentication, exceptions

from encompass.audit.context import set_api_key
from encompass.audit.middleware import client_ip
from encompass.tenancy.services import authenticate_api_key

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
        if throttle.is_blocked(request):
            raise exceptions.Throttled(wait=throttle.wait_seconds(request))
        if len(parts) != 2:
            throttle.record_failure(request)
            raise exceptions.AuthenticationFailed("Malformed Authorization header.")
        key = authenticate_api_key(parts[1], ip=client_ip(request))
        if key is None:
            throttle.record_failure(request)
            raise exceptions.AuthenticationFailed("Invalid, expired, suspended or revoked API key.")
        set_api_key(key.pk)
        return key.user, key

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
