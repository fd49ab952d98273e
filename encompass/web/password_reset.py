"""Password reset by email: Django's own views (single-use tokens that expire after
``PASSWORD_RESET_TIMEOUT``), with the project's throttle, audit and link base.

* The answer to a request is the same page whether or not the address belongs to anyone.
* Requests are throttled per client address and per address typed (``password_reset`` rate),
  counted whether or not the address is known, so the 429 says nothing about accounts either.
* The link in the email is built on ``ENCOMPASS["PUBLIC_BASE_URL"]``, never on the request's
  Host header.
* A request, a refused (used, expired or forged) link and a completed reset are audited.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.shortcuts import render
from django.urls import reverse_lazy

from encompass.api.throttling import AuthFailureThrottle
from encompass.audit.security import organizations_of_user, record_auth_failure
from encompass.audit.services import record_audit

User = get_user_model()


class _Throttle(AuthFailureThrottle):
    """The ``password_reset`` rate, keyed by client address or by the address typed."""

    def __init__(self, subject=None):
        super().__init__("password_reset")
        self.subject = subject

    def _key(self, request):
        if self.subject is None:
            return super()._key(request)
        return f"encompass:pwreset:email:{self.subject}"


class PasswordResetView(auth_views.PasswordResetView):
    success_url = reverse_lazy("web:password_reset_done")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["timeout_minutes"] = max(1, settings.PASSWORD_RESET_TIMEOUT // 60)
        return context

    def form_valid(self, form):
        email = form.cleaned_data["email"].strip().lower()
        throttles = [_Throttle(), _Throttle(email)]
        counts = [t.record_failure(self.request) for t in throttles]
        over = [t for t, n in zip(throttles, counts, strict=True) if n > t.limit]
        users = list(form.get_users(email))
        record_audit(
            "auth.password_reset.requested",
            actor="anonymous",
            object_repr=email[:300],
            changes={"email": email, "throttled": bool(over), "accounts": len(users)},
        )
        for user in users:
            for org in organizations_of_user(user):
                record_audit(
                    "auth.password_reset.requested",
                    actor="anonymous",
                    obj=user,
                    organization=org,
                    object_repr=user.get_username(),
                    changes={"throttled": bool(over)},
                )
        if over:
            wait = max(t.wait_seconds(self.request) for t in over)
            response = render(
                self.request, "registration/password_reset_throttled.html", status=429
            )
            response["Retry-After"] = str(wait)
            return response
        base = urlsplit(settings.ENCOMPASS["PUBLIC_BASE_URL"])
        form.save(
            domain_override=base.netloc,
            use_https=base.scheme == "https",
            token_generator=self.token_generator,
            email_template_name=self.email_template_name,
            subject_template_name=self.subject_template_name,
            request=self.request,
            extra_email_context={"site_name": "Encompass"},
        )
        # FormView's form_valid (the redirect): the parent's would send the email a second time.
        return super(auth_views.PasswordResetView, self).form_valid(form)


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    success_url = reverse_lazy("web:password_reset_complete")

    def dispatch(self, *args, **kwargs):
        response = super().dispatch(*args, **kwargs)
        if not self.validlink and kwargs.get("token") != self.reset_url_token:
            user = self.user
            record_auth_failure(
                "auth.password_reset.failed",
                method="password_reset",
                reason="used, expired or forged reset link",
                actor=f"anonymous:{user.get_username()}" if user else "anonymous",
                obj=user,
                object_repr=user.get_username() if user else "",
                organizations=organizations_of_user(user),
                platform=True,
            )
        return response

    def form_valid(self, form):
        response = super().form_valid(form)
        user = form.user
        record_audit(
            "auth.password_reset.completed", actor=user, obj=user, object_repr=user.get_username()
        )
        for org in organizations_of_user(user):
            record_audit(
                "auth.password_reset.completed",
                actor=user,
                obj=user,
                organization=org,
                object_repr=user.get_username(),
            )
        return response
