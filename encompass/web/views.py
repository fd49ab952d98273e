"""The shell of the web UI: home, sign-in with a second factor, organization switcher."""

import datetime
import io

import qrcode
import qrcode.image.svg
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp import match_token
from django_otp.plugins.otp_totp.models import TOTPDevice

from encompass.audit.models import AuditEntry
from encompass.audit.services import record_audit
from encompass.tenancy.access import all_roles_of, may
from encompass.tenancy.mfa import has_authenticator, requires_second_factor
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
