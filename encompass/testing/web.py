"""A Django test client signed in as a user, as after the real sign-in."""

from django.test import Client


def web(user):
    """A signed-in client; privileged roles also pass the second factor (a verified TOTP device)."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from encompass.tenancy.mfa import requires_second_factor

    client = Client()
    client.force_login(user)
    if requires_second_factor(user):
        device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client
