"""Web UI: the certificates overview (expiring, expired, revoked, by CA) and a CA's page.

Reads go through ``restrict()`` and are scoped to the organization chosen in the switcher."""

import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone

from devices.choices import ACTIVE_STATES
from encompass.web.tenant import current_organization

from .forms import EnrollmentTokenForm
from .models import CertificateAuthority, DeviceCertificate
from .services import create_enrollment_token, crl_url, policy_for
from .tasks import certificates_needing_renewal

LIST_LIMIT = 50


def _certificates(request, organization):
    return (
        DeviceCertificate.objects.restrict(request.user, "view")
        .filter(organization=organization)
        .select_related("device", "authority")
    )


@login_required
def overview(request):
    organization = current_organization(request)
    context = {"organization": organization}
    if organization is None:
        return render(request, "identity/overview.html", context)
    now = timezone.now()
    policy = policy_for(organization)
    window = now + datetime.timedelta(days=policy.renewal_window_days)
    certs = _certificates(request, organization)
    counts = certs.aggregate(
        active=Count("pk", filter=Q(revoked_at__isnull=True, not_after__gt=window)),
        expiring=Count(
            "pk", filter=Q(revoked_at__isnull=True, not_after__gt=now, not_after__lte=window)
        ),
        expired=Count("pk", filter=Q(revoked_at__isnull=True, not_after__lte=now)),
        revoked=Count("pk", filter=Q(revoked_at__isnull=False)),
    )
    renewal = (
        certificates_needing_renewal(organization, now=now)
        .filter(pk__in=certs.values("pk"))
        .select_related("authority")
    )
    authorities = (
        CertificateAuthority.objects.restrict(request.user, "view")
        .filter(organization=organization)
        .annotate(
            issued=Count("certificates"),
            valid=Count(
                "certificates",
                filter=Q(certificates__revoked_at__isnull=True, certificates__not_after__gt=now),
            ),
        )
    )
    context.update(
        policy=policy,
        counts=counts,
        expiring=[c for c in renewal.order_by("not_after")[:LIST_LIMIT] if c.not_after > now],
        expired=[c for c in renewal.order_by("not_after")[:LIST_LIMIT] if c.not_after <= now],
        revoked=certs.filter(revoked_at__isnull=False).order_by("-revoked_at")[:20],
        authorities=authorities,
        in_service=ACTIVE_STATES,
        crl_url=crl_url(organization, "pem"),
        ca_url=crl_url(organization).rsplit("/", 1)[0] + "/ca.pem",
    )
    return render(request, "identity/overview.html", context)


@login_required
def authority_detail(request, pk):
    authority = (
        CertificateAuthority.objects.restrict(request.user, "view")
        .select_related("organization")
        .filter(pk=pk)
        .first()
    )
    if authority is None:
        raise Http404("No such certificate authority.")
    certs = (
        DeviceCertificate.objects.restrict(request.user, "view")
        .filter(authority=authority)
        .select_related("device")
        .order_by("-not_before")[:LIST_LIMIT]
    )
    return render(
        request,
        "identity/authority_detail.html",
        {
            "organization": authority.organization,
            "authority": authority,
            "certificates": certs,
            "crl_url": crl_url(authority.organization, "pem"),
            "crl_der_url": crl_url(authority.organization),
            "ca_url": crl_url(authority.organization).rsplit("/", 1)[0] + "/ca.pem",
        },
    )


@login_required
def new_enrollment_token(request):
    """Create a one-time enrollment token; the plaintext is shown on this page only, once."""
    organization = current_organization(request)
    if organization is None:
        raise Http404("No organization.")
    form = EnrollmentTokenForm(request.POST or None, user=request.user, organization=organization)
    issued = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            token, plaintext = create_enrollment_token(
                data["device"], actor=request.user, ttl=data["ttl_hours"], note=data["note"]
            )
        except (ValidationError, PermissionDenied) as exc:
            text = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            messages.error(request, text)
        else:
            issued = {"token": token, "plaintext": plaintext}
            form = EnrollmentTokenForm(user=request.user, organization=organization)
    response = render(
        request,
        "identity/token_new.html",
        {"organization": organization, "form": form, "issued": issued},
    )
    response["Cache-Control"] = "no-store"
    return response
