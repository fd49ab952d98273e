"""The signed-in user's own account pages: membership invitations addressed to them."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from encompass.exceptions import NotPermitted, ValidationError
from encompass.tenancy import invitations
from encompass.tenancy.models import MembershipInvitation


@login_required
def invitation_list(request):
    pending = invitations.pending_invitations_for(request.user)
    return render(request, "web/invitations.html", {"invitations": pending})


@login_required
@require_POST
def invitation_respond(request, pk):
    invitation = MembershipInvitation(pk=pk)
    answer = request.POST.get("answer")
    try:
        if answer == "accept":
            membership = invitations.accept_invitation(invitation, actor=request.user)
            messages.success(
                request,
                f"You are now {membership.get_role_display()} in {membership.organization}.",
            )
        elif answer == "decline":
            invitations.decline_invitation(invitation, actor=request.user)
            messages.info(request, "Invitation declined.")
        else:
            messages.error(request, "Choose accept or decline.")
    except NotPermitted as exc:
        raise Http404("No such invitation.") from exc
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("web:invitations")
