"""Single sign-on pages: start, callback (mozilla-django-oidc's views, per organization) and the
organization Admin's provider settings."""

import re
import time
from urllib.parse import urlencode

import requests
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from encompass.audit.security import record_auth_failure
from encompass.exceptions import NotPermitted, ValidationError
from encompass.tenancy.access import may
from encompass.tenancy.models import Organization
from encompass.web.tenant import current_organization, set_current_organization

from . import providers
from .backend import CALLBACK_URL_NAME, ProviderSettingsMixin
from .models import IdentityProvider
from .session import SESSION_KEY, STATES_KEY

MAX_PENDING = 20
slug_re = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$")


def _to_sign_in(request, message):
    messages.error(request, message)
    return redirect("web:login")


class SsoStartView(ProviderSettingsMixin, OIDCAuthenticationRequestView):
    """Redirects to the organization's provider (state, nonce and PKCE by the library)."""

    def __init__(self, **kwargs):
        View.__init__(self, **kwargs)  # the library would read global settings here

    def get(self, request, slug=None):
        if slug is None:
            return self._from_sign_in_form(request)
        slug = slug.strip().lower()
        provider = (
            IdentityProvider.objects.select_related("organization")
            .filter(organization__slug=slug, enabled=True)
            .first()
        )
        if provider is None:
            return _to_sign_in(
                request, "That organization has no single sign-on; check its short name."
            )
        self.provider = provider
        self.OIDC_OP_AUTH_ENDPOINT = provider.authorization_endpoint
        self.OIDC_RP_CLIENT_ID = provider.client_id
        before = set(request.session.get("oidc_states", {}))
        response = super().get(request)
        pending = dict(request.session.get(STATES_KEY, {}))
        for state in set(request.session.get("oidc_states", {})) - before:
            pending[state] = [provider.pk, time.time()]
        # Keep the newest few: a browser that starts many sign-ins does not grow its session.
        newest = sorted(pending.items(), key=lambda item: item[1][1])[-MAX_PENDING:]
        request.session[STATES_KEY] = dict(newest)
        return response

    def _from_sign_in_form(self, request):
        """The sign-in page's form lands here. The policy's ``form-action 'self'`` also covers
        the redirects that follow a form submission, so the way to the provider continues from
        this page (a meta refresh, and a link), not as a redirect of the form's request."""
        slug = (request.GET.get("organization") or "").strip().lower()
        if not slug_re.match(slug):
            return _to_sign_in(request, "Give your organization's short name.")
        query = {"next": request.GET["next"]} if request.GET.get("next") else {}
        url = reverse("sso:start", args=[slug]) + (f"?{urlencode(query)}" if query else "")
        return render(request, "sso/continue.html", {"url": url, "slug": slug})


class SsoCallbackView(OIDCAuthenticationCallbackView):
    """The provider redirects here; the backend exchanges the code and applies the mapping."""

    def get(self, request):
        state = request.GET.get("state", "")
        pending = dict(request.session.get(STATES_KEY, {}))
        entry = pending.pop(state, None)
        request.session[STATES_KEY] = pending
        self.provider = None
        if entry is not None:
            self.provider = (
                IdentityProvider.objects.select_related("organization")
                .filter(pk=entry[0], enabled=True)
                .first()
            )
        if self.provider is None:
            return self._fail(
                request, "This sign-in was not started here, or it expired. Start it again."
            )
        if request.GET.get("error"):
            return self._fail(
                request, f"The identity provider refused the sign-in ({request.GET['error']})."
            )
        request.encompass_sso_provider = self.provider
        try:
            return super().get(request)
        except SuspiciousOperation as exc:
            return self._fail(request, f"The identity provider's answer did not verify: {exc}")
        except requests.RequestException as exc:
            return self._fail(request, f"The identity provider could not be asked: {exc}")

    def login_success(self):
        result = self.request.encompass_sso_result
        response = super().login_success()
        self.request.session[SESSION_KEY] = {
            "identity": result.identity.pk,
            "validated": time.time(),
            "mfa": result.mfa,
        }
        set_current_organization(self.request, self.provider.organization)
        return response

    def login_failure(self):
        result = getattr(self.request, "encompass_sso_result", None)
        reason = (result.refused if result else "") or "Single sign-on did not complete."
        return self._fail(self.request, reason, user=result.user if result else None)

    def _fail(self, request, reason, user=None):
        provider = getattr(self, "provider", None)
        record_auth_failure(
            "auth.sign_in_failed",
            method="oidc",
            reason=reason,
            actor=f"anonymous:{user.get_username()}" if user else "anonymous",
            object_repr=user.get_username() if user else "",
            organizations=[provider.organization] if provider else [],
        )
        return _to_sign_in(request, reason)


# --- the Admin's settings page ------------------------------------------------------------------


class IdentityProviderForm(forms.Form):
    enabled = forms.BooleanField(required=False, initial=True)
    issuer = forms.URLField(
        max_length=500, assume_scheme="https", help_text="e.g. https://idp.example.com/realms/acme"
    )
    client_id = forms.CharField(max_length=255)
    client_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Stored encrypted; leave empty to keep the stored one.",
    )
    scopes = forms.CharField(max_length=255, initial="openid email profile")
    groups_claim = forms.CharField(max_length=100, initial="groups")
    username_claim = forms.CharField(max_length=100, initial="preferred_username")
    mappings = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="One per line: GROUP = ROLE [site-slug,site-slug]. Roles: admin, "
        "security_officer, operator, technician, auditor.",
    )
    require_sso = forms.BooleanField(
        required=False, label="Require single sign-on for every member but the break-glass Admins"
    )
    break_glass = forms.CharField(
        required=False,
        help_text="Usernames of local Admins (password + TOTP), separated by commas.",
    )
    mfa_amr_values = forms.CharField(
        required=False,
        label="amr values that count as a second factor",
        initial="mfa otp hwk swk sc fpt face pin",
    )
    mfa_acr_values = forms.CharField(required=False, label="acr values that count as one")


def _initial(provider):
    if provider is None:
        return {}
    return {
        "enabled": provider.enabled,
        "issuer": provider.issuer,
        "client_id": provider.client_id,
        "scopes": provider.scopes,
        "groups_claim": provider.groups_claim,
        "username_claim": provider.username_claim,
        "mappings": providers.mappings_text(provider),
        "require_sso": provider.require_sso,
        "break_glass": ", ".join(u.get_username() for u in provider.break_glass.all()),
        "mfa_amr_values": provider.mfa_amr_values,
        "mfa_acr_values": provider.mfa_acr_values,
    }


@login_required
def provider_settings(request):
    """The current organization's identity provider; its Admins only (others: 404)."""
    organization = current_organization(request)
    if organization is None or not may(request.user, Organization, "manage_members", organization):
        raise Http404("No such page.")
    provider = IdentityProvider.objects.filter(organization=organization).first()
    form = IdentityProviderForm(request.POST or None, initial=_initial(provider))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            providers.configure_identity_provider(
                organization,
                actor=request.user,
                issuer=data["issuer"],
                client_id=data["client_id"],
                client_secret=data["client_secret"] or None,
                scopes=data["scopes"],
                groups_claim=data["groups_claim"],
                username_claim=data["username_claim"],
                require_sso=data["require_sso"],
                enabled=data["enabled"],
                mfa_amr_values=data["mfa_amr_values"],
                mfa_acr_values=data["mfa_acr_values"],
                mappings=data["mappings"],
                break_glass=[u.strip() for u in data["break_glass"].split(",") if u.strip()],
            )
        except NotPermitted as exc:
            raise Http404("No such page.") from exc
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, "Single sign-on settings saved.")
            return HttpResponseRedirect(reverse("sso:settings"))
    callback = request.build_absolute_uri(reverse(CALLBACK_URL_NAME))
    start = request.build_absolute_uri(reverse("sso:start", args=[organization.slug]))
    return render(
        request,
        "sso/settings.html",
        {
            "form": form,
            "provider": provider,
            "organization": organization,
            "callback_url": callback,
            "start_url": start,
        },
    )
