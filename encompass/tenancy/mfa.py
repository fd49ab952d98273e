"""Second factor (TOTP, via django-otp): who needs it, and whether this session has given it."""

from django.conf import settings
from django_otp import user_has_device

from .access import all_roles_of


def requires_second_factor(user):
    """Users holding a privileged role anywhere (Admin, Security officer by default)."""
    if not getattr(user, "is_authenticated", False):
        return False
    if hasattr(user, "api_key"):
        return False  # API keys are their own credential
    required = set(settings.ENCOMPASS["MFA_REQUIRED_ROLES"])
    return bool(all_roles_of(user) & required)


def needs_second_factor(request, user=None):
    """True when this session must still present a TOTP code (or set up an authenticator)."""
    user = user or request.user
    if not requires_second_factor(user):
        return False
    is_verified = getattr(user, "is_verified", None)
    return not (is_verified and is_verified())


def has_authenticator(user):
    return user_has_device(user, confirmed=True)
