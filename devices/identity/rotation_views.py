"""Web UI of a CA's retirement: the rotation progress page and the emergency compromise form.

Both read through ``restrict()`` (another organization's CA is the same 404 as a missing one);
the compromise form calls the same service as the API and is offered only to the roles that may.
"""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from encompass.tenancy.access import has_access

from .forms import DeclareCompromiseForm
from .models import CertificateAuthority
from .rotation import rotation_progress
from .services.compromise import declare_ca_compromised


def _authority(request, pk):
    authority = (
        CertificateAuthority.objects.restrict(request.user, "view")
        .select_related("organization")
        .filter(pk=pk)
        .first()
    )
    if authority is None:
        raise Http404("No such certificate authority.")
    return authority


@login_required
def authority_rotation(request, pk):
    authority = _authority(request, pk)
    progress = rotation_progress(authority, request.user)
    on_this = progress["devices_on_this_ca"] + progress["devices_awaiting_reenrollment"]
    total = on_this + progress["devices_on_issuing_ca"] + progress["devices_on_other_cas"]
    issuing = (
        CertificateAuthority.objects.filter(pk=progress["issuing_authority"]).first()
        if progress["issuing_authority"]
        else None
    )
    return render(
        request,
        "identity/authority_rotation.html",
        {
            "organization": authority.organization,
            "authority": authority,
            "issuing": issuing,
            "progress": progress,
            "moved_percent": round(100 * progress["devices_on_issuing_ca"] / total) if total else 0,
            "may_declare": not authority.is_compromised
            and has_access(request.user, authority, "declare_compromised"),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def authority_compromise(request, pk):
    authority = _authority(request, pk)
    if authority.is_compromised:
        return redirect("identity_ui:authority-rotation", pk=authority.pk)
    if not has_access(request.user, authority, "declare_compromised"):
        raise PermissionDenied("Only a Security officer or an Admin declares a CA compromised.")
    form = DeclareCompromiseForm(request.POST or None, authority=authority)
    result = None
    if request.method == "POST" and form.is_valid():
        try:
            result = declare_ca_compromised(
                authority, actor=request.user, note=form.cleaned_data["note"]
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
    response = render(
        request,
        "identity/authority_compromise.html",
        {
            "organization": authority.organization,
            "authority": authority,
            "form": form,
            "result": result,
        },
    )
    response["Cache-Control"] = "no-store"  # the one-time tokens are on this page once
    return response
