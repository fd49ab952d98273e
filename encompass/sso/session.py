"""What a session signed in through SSO carries, and the bound on how long it lives unchecked.

``request.session[SESSION_KEY] = {"identity": pk, "validated": epoch seconds, "mfa": bool}``.
:class:`SsoSessionMiddleware` asks the provider again (refresh token, then userinfo) once
``ENCOMPASS_SSO_REVALIDATE_MINUTES`` have passed since it last vouched; when it refuses, no
longer gives a role, or cannot be reached, the session is ended (docs/sso.md).
"""

import logging
import time
from urllib.parse import urlencode

from django.contrib import auth, messages
from django.shortcuts import redirect
from django.urls import reverse

SESSION_KEY = "encompass_sso"
STATES_KEY = "encompass_sso_states"

logger = logging.getLogger(__name__)


def sso_mfa(request):
    """Whether this session's provider vouched for a second factor (``amr``/``acr``)."""
    session = getattr(request, "session", None)
    data = session.get(SESSION_KEY) if session is not None else None
    return bool(data and data.get("mfa"))


def session_mfa(session):
    data = session.get(SESSION_KEY) if session is not None else None
    return bool(data and data.get("mfa"))


def _end(request, why, identity=None):
    from encompass.audit.services import record_audit

    user = request.user
    record_audit(
        "sso.session.ended",
        actor=user,
        obj=user,
        organization=identity.provider.organization if identity is not None else None,
        object_repr=user.get_username(),
        changes={"reason": why},
    )
    auth.logout(request)
    request.encompass_sso_ended = why


class SsoSessionMiddleware:
    """Re-checks SSO sessions with their provider once the bound has passed (place it right
    after ``AuthenticationMiddleware``, before the grant cache)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        data = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
        if data:
            ended = self._check(request, data)
            if ended and not request.path.startswith(("/api/", "/ws/")):
                return self._to_sign_in(request)
        return self.get_response(request)

    def _to_sign_in(self, request):
        # This middleware runs before the messages middleware (the grants must be re-read after
        # a re-check), so it keeps the message itself on the redirect it answers with.
        from django.contrib.messages.storage import default_storage

        response = redirect(f"{reverse('web:login')}?{urlencode({'next': request.path})}")
        request._messages = default_storage(request)
        messages.info(
            request,
            f"Your single sign-on session ended: {request.encompass_sso_ended}. Sign in again.",
        )
        request._messages.update(response)
        return response

    def _check(self, request, data):
        from .models import SsoIdentity
        from .services import IdpUnavailable, revalidate, revalidate_seconds

        bound = revalidate_seconds()
        now = time.time()
        if now - data.get("validated", 0) <= bound:
            return False
        identity = (
            SsoIdentity.objects.select_related("provider__organization", "user")
            .filter(pk=data.get("identity"))
            .first()
        )
        if identity is None or str(identity.user_id) != str(request.session.get(auth.SESSION_KEY)):
            _end(request, "the account is no longer linked to the identity provider")
            return True
        if identity.lapsed_at is not None:
            _end(request, "the identity provider no longer vouches for you", identity)
            return True
        if now - identity.validated_at.timestamp() <= bound:
            # Another session or the worker's revalidation asked the provider recently.
            request.session[SESSION_KEY] = {**data, "validated": identity.validated_at.timestamp()}
            return False
        try:
            kept = revalidate(identity)
        except IdpUnavailable as exc:
            logger.warning("SSO revalidation of %s: provider unavailable: %s", identity, exc)
            _end(request, "the identity provider could not be reached", identity)
            return True
        if not kept:
            _end(request, "the identity provider no longer gives you a role", identity)
            return True
        request.session[SESSION_KEY] = {**data, "validated": time.time()}
        return False
