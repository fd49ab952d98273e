"""Send privileged staff who have not given their second factor to the TOTP page."""

from django.shortcuts import redirect
from django.urls import reverse

from .mfa import needs_second_factor

EXEMPT_PREFIXES = ("/static/", "/healthz", "/readyz", "/api/", "/pki/", "/ws/", "/account/")


class SecondFactorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not path.startswith(EXEMPT_PREFIXES)
            and needs_second_factor(request, user)
        ):
            return redirect(f"{reverse('web:two_factor')}?next={path}")
        return self.get_response(request)
