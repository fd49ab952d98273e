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
    username = str(credentials.get("username", ""))[:150]
    record_audit(
        "auth.sign_in_failed",
        actor=f"anonymous:{username}",
        object_repr=username,
        changes={"username": username},
    )
