"""The shell of the web UI: home, sign-in with a second factor, organization switcher."""

import io

import qrcode
import qrcode.image.svg
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp import match_token
from django_otp.plugins.otp_totp.models import TOTPDevice

from encompass.audit.services import record_audit
from encompass.tenancy.access import all_roles_of
from encompass.tenancy.mfa import has_authenticator, requires_second_factor
from encompass.tenancy.models import Membership

from .forms import TokenForm
from .tenant import current_organization, organizations_of, set_current_organization


def _safe_next(request, fallback="web:home"):
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(
        target, {request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return redirect(fallback).url


@login_required
def home(request):
    org = current_organization(request)
    memberships = (
        Membership.objects.filter(user=request.user)
        .select_related("organization")
        .prefetch_related("sites")
    )
    return render(
        request,
        "web/home.html",
        {
            "organization": org,
            "memberships": memberships,
            "roles": sorted(all_roles_of(request.user)),
        },
    )


@login_required
def two_factor(request):
    """Verify the TOTP code, or set up an authenticator first if the user has none."""
    user = request.user
    if not requires_second_factor(user) and not has_authenticator(user):
        return redirect(_safe_next(request))
    device = None
    setup = not has_authenticator(user)
    if setup:
        device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name="Authenticator", confirmed=False)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        token = form.cleaned_data["token"]
        verified = None
        if setup:
            if device.verify_token(token):
                with transaction.atomic():
                    device.confirmed = True
                    device.save(update_fields=["confirmed"])
                    record_audit(
                        "auth.second_factor.enrolled",
                        actor=user,
                        obj=user,
                        object_repr=user.get_username(),
                    )
                verified = device
        else:
            verified = match_token(user, token)
        if verified is not None:
            otp_login(request, verified)
            record_audit(
                "auth.second_factor.verified", actor=user, obj=user, object_repr=user.get_username()
            )
            return redirect(_safe_next(request))
        record_audit(
            "auth.second_factor.failed", actor=user, obj=user, object_repr=user.get_username()
        )
        form.add_error("token", "That code is not valid. Check the time on your device.")
    context = {"form": form, "setup": setup, "next": request.GET.get("next", "")}
    if setup:
        image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage)
        buffer = io.BytesIO()
        image.save(buffer)
        context["qr_svg"] = buffer.getvalue().decode()
        context["secret"] = _base32(device.bin_key)
    return render(request, "web/two_factor.html", context)


def _base32(raw):
    import base64

    return base64.b32encode(raw).decode().rstrip("=")


@login_required
@require_POST
def switch_organization(request):
    org_id = request.POST.get("organization", "")
    org = organizations_of(request.user).filter(pk=org_id).first() if org_id.isdigit() else None
    if org is None:
        raise Http404("No such organization.")
    set_current_organization(request, org)
    messages.info(request, f"Now working in {org.name}.")
    return redirect(_safe_next(request))
