"""Sign-ins and failed sign-ins go on the platform chain (and the user's organizations' chains)."""

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from .services import record_audit


def _orgs_of(user):
    from encompass.tenancy.models import Membership

    return [
        m.organization for m in Membership.objects.filter(user=user).select_related("organization")
    ]


@receiver(user_logged_in)
def audit_sign_in(sender, request, user, **kwargs):
    record_audit("auth.sign_in", actor=user, obj=user, object_repr=user.get_username())
    for org in _orgs_of(user):
        record_audit("auth.sign_in", actor=user, organization=org, object_repr=user.get_username())


@receiver(user_logged_out)
def audit_sign_out(sender, request, user, **kwargs):
    if user is not None:
        record_audit("auth.sign_out", actor=user, obj=user, object_repr=user.get_username())


@receiver(user_login_failed)
def audit_sign_in_failed(sender, credentials, request=None, **kwargs):
    """A wrong password, an unknown username, or an attempt refused by the sign-in lockout.

    The platform chain always gets the entry; when the username is a member somewhere, its
    organizations' chains and event streams get it too (their security staff see attempts
    against their own people).
    """
    from django.contrib.auth import get_user_model

    from .security import organizations_of_user, record_auth_failure

    username = str(credentials.get("username", ""))[:150]
    refused = bool(getattr(request, "encompass_refused_by_lockout", False))
    user = get_user_model().objects.filter(username=username).first() if username else None
    record_auth_failure(
        "auth.sign_in_failed",
        method="password",
        reason="locked out: too many failed sign-ins"
        if refused
        else "username and password did not match",
        actor=f"anonymous:{username}",
        object_repr=username,
        organizations=organizations_of_user(user),
        platform=True,
        details={"username": username, "locked_out": refused},
    )
