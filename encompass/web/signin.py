"""Sign-in brute-force protection (django-axes), configured to the project.

* Failures are counted per username (whether or not it exists) and per client address
  (``encompass.audit.middleware.client_ip``, which believes ``X-Forwarded-For`` only from the
  trusted proxies); either reaching ``AXES_FAILURE_LIMIT`` within the cool-off locks sign-in for
  that username / address until ``AXES_COOLOFF_TIME`` after the last counted failure.
* Attempts made during a lockout do not extend it, so the real user gets in after the cool-off
  however long an attacker keeps trying.
* The lockout answer is the same for every username, existing or not (429, one message).

See docs/authentication.md.
"""

import math

from axes.backends import AxesStandaloneBackend
from axes.exceptions import AxesBackendPermissionDenied
from axes.signals import user_locked_out
from django.conf import settings
from django.dispatch import receiver
from django.shortcuts import render

from encompass.audit.security import record_auth_failure


class SignInLockoutBackend(AxesStandaloneBackend):
    """Refuses sign-in while the username or the address is locked out.

    A call to ``authenticate()`` without a request (a management command, the shell) is not an
    online guess and has no client address to count; it passes through to the next backend.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        try:
            return super().authenticate(request, username=username, password=password, **kwargs)
        except AxesBackendPermissionDenied:
            # Read by the failure receivers: this attempt was refused unchecked, it is not the
            # one that began the lockout.
            request.encompass_refused_by_lockout = True
            raise


def cooloff_minutes():
    return max(1, math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60))


def lockout_response(request, original_response=None, credentials=None):
    """The answer while locked out: one message for every username, HTTP 429."""
    response = render(
        request,
        "registration/locked_out.html",
        {"cooloff_minutes": cooloff_minutes()},
        status=429,
    )
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response


@receiver(user_locked_out)
def audit_lockout(sender, request=None, username=None, ip_address=None, **kwargs):
    from django.contrib.auth import get_user_model

    from encompass.audit.security import organizations_of_user

    if request is not None and getattr(request, "encompass_refused_by_lockout", False):
        return  # an attempt during the lockout: audited as a refused sign-in, not a new lockout
    username = str(username or "")[:150]
    user = get_user_model().objects.filter(username=username).first() if username else None
    record_auth_failure(
        "auth.locked_out",
        method="password",
        reason=f"too many failed sign-ins; locked for {cooloff_minutes()} minutes",
        actor=f"anonymous:{username}",
        object_repr=username,
        organizations=organizations_of_user(user),
        platform=True,
        details={"username": username},
    )
