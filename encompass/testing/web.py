"""A Django test client signed in as a user, as after the real sign-in."""

from django.test import Client


def web(user, client=None):
    """``client`` (a new one by default) signed in as ``user``; when the user's roles require a
    second factor, it is given too (a verified TOTP device, as after the TOTP page)."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from encompass.tenancy.mfa import requires_second_factor

    client = client or Client()
    client.force_login(user)
    if requires_second_factor(user):
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client
