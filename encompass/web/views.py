"""The shell of the web UI: home, sign-in with a second factor, organization switcher."""

import datetime
import io
import math

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django_otp import login as otp_login

from encompass.audit.models import AuditEntry
from encompass.audit.security import organizations_of_user, record_auth_failure
from encompass.audit.services import record_audit
from encompass.tenancy.access import all_roles_of, may
from encompass.tenancy.mfa import (
    check_second_factor,
    confirm_authenticator,
    has_authenticator,
    pending_authenticator,
    requires_second_factor,
)
from encompass.tenancy.models import ApiKey, Membership, Site

from .forms import TokenForm
from .tenant import current_organization, organizations_of, set_current_organization


def _safe_next(request, fallback="web:home"):
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(
        target, {request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return redirect(fallback).url


DASHBOARD_URL_NAME = "monitoring_ui:dashboard"


def _dashboard_url():
    try:
        return reverse(DASHBOARD_URL_NAME)
    except NoReverseMatch:
        return None


@login_required
def home(request):
    """Members land on the live fleet dashboard when it is installed, else on the overview."""
    dashboard = _dashboard_url()
    if dashboard and current_organization(request) is not None:
        return redirect(dashboard)
    return overview(request)


@login_required
def overview(request):
    """The current organization at a glance: sites, members, keys, recent audit entries."""
    org = current_organization(request)
    user = request.user
    memberships = (
        Membership.objects.filter(user=user)
        .select_related("organization")
        .prefetch_related("sites")
    )
    context = {"organization": org, "memberships": memberships, "roles": sorted(all_roles_of(user))}
    if org is not None:
        sites = Site.objects.restrict(user, "view").filter(organization=org)
        members = Membership.objects.restrict(user, "view").filter(organization=org)
        keys = ApiKey.objects.restrict(user, "view").filter(organization=org)
        audit = AuditEntry.objects.restrict(user, "view").filter(organization=org)
        since = timezone.now() - datetime.timedelta(days=1)
        context.update(
            {
                "sites": sites.order_by("name")[:50],
                "site_count": sites.count(),
                "member_count": members.count(),
                "key_count": keys.filter(
                    revoked_at__isnull=True, suspended=False, expires_at__gt=timezone.now()
                ).count()
                if may(user, ApiKey, "view", org)
                else None,
                "audit_recent": list(audit.select_related("organization")[:10])
                if may(user, AuditEntry, "view", org)
                else None,
                "audit_day_count": audit.filter(created_at__gte=since).count(),
            }
        )
    return render(request, "web/home.html", context)


@login_required
def two_factor(request):
    """Verify the TOTP code, or set up an authenticator first if the user has none."""
    user = request.user
    if not requires_second_factor(user) and not has_authenticator(user):
        return redirect(_safe_next(request))
    device = None
    setup = not has_authenticator(user)
    if setup:
        device = pending_authenticator(user)
    form = TokenForm(request.POST or None)
    status, retry_after = 200, 0
    if request.method == "POST" and form.is_valid():
        check = check_second_factor(
            user, form.cleaned_data["token"], setup_device=device if setup else None
        )
        if check.device is not None:
            if setup:
                confirm_authenticator(user, device)
            otp_login(request, check.device)
            record_audit(
                "auth.second_factor.verified", actor=user, obj=user, object_repr=user.get_username()
            )
            return redirect(_safe_next(request))
        _audit_second_factor_refusal(user, check)
        form.add_error("token", _refusal_message(check))
        status = 200 if check.refused == "wrong" else 429
        retry_after = check.wait_seconds
    context = {"form": form, "setup": setup, "next": request.GET.get("next", "")}
    if setup:
        image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage)
        buffer = io.BytesIO()
        image.save(buffer)
        context["qr_svg"] = buffer.getvalue().decode()
        context["secret"] = _base32(device.bin_key)
    response = render(request, "web/two_factor.html", context, status=status)
    if status == 429:
        response["Retry-After"] = str(max(1, retry_after))
    return response


def _refusal_message(check):
    wait = check.wait_seconds
    if check.refused == "locked":
        minutes = max(1, math.ceil(wait / 60))
        return (
            f"Too many wrong codes in a row: the second factor is locked. Try again in "
            f"{minutes} minute{'s' if minutes != 1 else ''}."
        )
    if check.refused == "wait":
        return f"Wait {wait} second{'s' if wait != 1 else ''} before trying a code again."
    if wait:
        return (
            f"That code is not valid. Check the time on your device, then wait {wait} "
            f"second{'s' if wait != 1 else ''} before the next try."
        )
    return "That code is not valid. Check the time on your device."


def _audit_second_factor_refusal(user, check):
    reasons = {
        "wrong": "wrong code",
        "wait": f"refused untried: back-off, {check.wait_seconds} s left",
        "locked": f"refused untried: locked, {check.wait_seconds} s left",
    }
    orgs = organizations_of_user(user)
    details = {"failures": check.failures, "wait_seconds": check.wait_seconds}
    record_auth_failure(
        "auth.second_factor.failed",
        method="totp",
        reason=reasons[check.refused],
        actor=user,
        obj=user,
        object_repr=user.get_username(),
        organizations=orgs,
        platform=True,
        details=details,
    )
    limit = settings.ENCOMPASS["TOTP_FAILURE_LIMIT"]
    if check.refused == "wrong" and check.failures == limit:
        record_auth_failure(
            "auth.second_factor.locked",
            method="totp",
            reason=f"{limit} wrong codes in a row; locked for the cool-off",
            actor=user,
            obj=user,
            object_repr=user.get_username(),
            organizations=orgs,
            platform=True,
            details=details,
            severity="error",
        )


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
