"""Second factor (TOTP, via django-otp): who needs it, and whether this session has given it."""

import math
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_otp import devices_for_user, user_has_device
from django_otp.models import MAX_THROTTLE_DELAY_SECONDS
from django_otp.plugins.otp_totp.models import TOTPDevice

from encompass.audit.services import record_audit

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
    from encompass.sso.session import sso_mfa

    if sso_mfa(request):
        return False  # the identity provider vouched for a second factor (amr/acr)
    is_verified = getattr(user, "is_verified", None)
    return not (is_verified and is_verified())


def has_authenticator(user):
    return user_has_device(user, confirmed=True)


# --- verifying a code: django-otp's back-off, a lockout after N failures, one try at a time ------


@dataclass
class SecondFactorCheck:
    """The outcome of one code: the device that accepted it, or why it was refused."""

    device: object = None
    refused: str = ""  # "" (accepted), "wrong", "wait" (back-off) or "locked" (N failures)
    wait_seconds: int = 0
    failures: int = 0


def _remaining_seconds(device, now):
    """Seconds until ``device`` may be tried again: django-otp's 1, 2, 4 ... s back-off after each
    wrong code, and the cool-off once ``TOTP_FAILURE_LIMIT`` wrong codes came in a row."""
    count = device.throttling_failure_count
    last = device.throttling_failure_timestamp
    if not count or last is None:
        return 0
    required = device.get_throttle_factor() * 2 ** (count - 1)
    if count >= settings.ENCOMPASS["TOTP_FAILURE_LIMIT"]:
        required = max(required, settings.ENCOMPASS["TOTP_COOLOFF_MINUTES"] * 60)
    required = min(required, MAX_THROTTLE_DELAY_SECONDS)
    return max(0, math.ceil(required - (now - last).total_seconds()))


def check_second_factor(user, token, *, setup_device=None):
    """Verify ``token`` for ``user`` (against ``setup_device`` while enrolling).

    The user's devices are locked (``select_for_update``) for the whole check, so concurrent
    guesses are taken one at a time and each sees the failures before it. A device still in its
    back-off or lockout is not tried at all -- the answer then says how long to wait, instead of
    calling a right code wrong.
    """
    with transaction.atomic():
        if setup_device is not None:
            devices = list(
                type(setup_device).objects.select_for_update().filter(pk=setup_device.pk)
            )
        else:
            devices = list(devices_for_user(user, confirmed=True, for_verify=True))
        now = timezone.now()
        waits = {device: _remaining_seconds(device, now) for device in devices}
        ready = [device for device, wait in waits.items() if wait == 0]
        failures = max((d.throttling_failure_count for d in devices), default=0)
        if not ready:
            limit = settings.ENCOMPASS["TOTP_FAILURE_LIMIT"]
            return SecondFactorCheck(
                refused="locked" if failures >= limit else "wait",
                wait_seconds=min(waits.values(), default=0),
                failures=failures,
            )
        for device in ready:
            if device.verify_token(token):
                return SecondFactorCheck(device=device)
        failures = max(d.throttling_failure_count for d in ready)
        return SecondFactorCheck(
            refused="wrong",
            wait_seconds=min(_remaining_seconds(d, timezone.now()) for d in ready),
            failures=failures,
        )


def pending_authenticator(user):
    """The user's authenticator being set up (not confirmed yet), created on first need: its
    secret is what the set-up page shows as a QR code. Idempotent: reloading the page shows the
    same secret until a code from it confirms it."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator", confirmed=False)
    return device


@transaction.atomic
def confirm_authenticator(user, device):
    """Mark the set-up authenticator confirmed (a valid code from it was given) and audit it."""
    device.refresh_from_db()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    record_audit(
        "auth.second_factor.enrolled", actor=user, obj=user, object_repr=user.get_username()
    )
    return device
