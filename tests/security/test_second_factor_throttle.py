"""Second-factor guessing (issue 15): django-otp's back-off enforced one try at a time, a lockout
after N wrong codes with a cool-off, "wait N seconds" instead of calling a right code wrong, and
every refusal audited and raised as a security event."""

import datetime
import threading

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from encompass.audit.models import AuditEntry
from encompass.events.models import Event
from encompass.tenancy.roles import Role

PASSWORD = "a-long-enough-password-1"


def signed_in(user):
    user.set_password(PASSWORD)
    user.save()
    client = Client(REMOTE_ADDR="10.30.0.1")
    assert (
        client.post(
            "/account/sign-in/", {"username": user.username, "password": PASSWORD}
        ).status_code
        == 302
    )
    return client


def right_code(device):
    device.refresh_from_db()
    return (
        f"{TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token():06d}"
    )


def wrong_code(device):
    return f"{(int(right_code(device)) + 500_000) % 1_000_000:06d}"


def age_failures(device, seconds):
    last = TOTPDevice.objects.get(pk=device.pk).throttling_failure_timestamp
    TOTPDevice.objects.filter(pk=device.pk).update(
        throttling_failure_timestamp=last - datetime.timedelta(seconds=seconds)
    )


def post(client, code):
    return client.post("/account/two-factor/", {"token": code})


@pytest.fixture
def officer(world):
    user = world.a.user(Role.SECURITY_OFFICER)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return user, device, signed_in(user)


@pytest.mark.django_db
def test_right_code_right_after_a_wrong_one_is_told_to_wait_not_called_wrong(officer):
    _user, device, client = officer
    assert "That code is not valid" in post(client, wrong_code(device)).content.decode()
    response = post(client, right_code(device))
    assert response.status_code == 429
    body = response.content.decode()
    assert "Wait 1 second before trying a code again" in body
    assert "not valid" not in body
    assert int(response["Retry-After"]) == 1
    age_failures(device, 2)
    assert post(client, right_code(device)).status_code == 302


@pytest.mark.django_db
def test_wrong_codes_lock_the_second_factor_until_the_cool_off(officer, world):
    _user, device, client = officer
    limit = settings.ENCOMPASS["TOTP_FAILURE_LIMIT"]
    for _ in range(25):  # the red team's run, each try after its back-off
        post(client, wrong_code(device))
        age_failures(device, 2**20)
        device.refresh_from_db()
        if device.throttling_failure_count >= limit:
            break
    assert device.throttling_failure_count == limit
    # Locked: the right code is not even tried, and nothing more is counted.
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=timezone.now())
    for _ in range(3):
        response = post(client, right_code(device))
        assert response.status_code == 429
        assert "the second factor is locked. Try again in 15 minutes" in response.content.decode()
    device.refresh_from_db()
    assert device.throttling_failure_count == limit
    assert not client.session.get("otp_device_id")
    age_failures(device, 15 * 60 + 1)
    assert post(client, right_code(device)).status_code == 302
    device.refresh_from_db()
    assert device.throttling_failure_count == 0
    assert client.get("/overview/").status_code == 200
    locked = AuditEntry.objects.filter(action="auth.second_factor.locked")
    assert {e.chain for e in locked} == {"platform", str(world.a.org.pk)}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_concurrent_guesses_are_taken_one_at_a_time(world):
    user = world.a.user(Role.ADMIN)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    cookie = signed_in(user).cookies[settings.SESSION_COOKIE_NAME].value
    code = wrong_code(device)
    statuses, barrier = [], threading.Barrier(5)

    def guess():
        client = Client(REMOTE_ADDR="10.30.0.1")
        client.cookies[settings.SESSION_COOKIE_NAME] = cookie
        barrier.wait()
        statuses.append(post(client, code).status_code)

    threads = [threading.Thread(target=guess) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    device.refresh_from_db()
    # One guess was checked; the four that raced it waited for its lock, then were told to wait.
    assert device.throttling_failure_count == 1
    assert sorted(statuses) == [200, 429, 429, 429, 429]


@pytest.mark.django_db
def test_refused_codes_are_audited_and_raise_security_events(officer, world):
    user, device, client = officer
    post(client, wrong_code(device))
    post(client, right_code(device))  # refused untried: back-off
    entries = AuditEntry.objects.filter(action="auth.second_factor.failed", chain="platform")
    assert [e.changes["reason"] for e in entries.order_by("sequence")] == [
        "wrong code",
        "refused untried: back-off, 1 s left",
    ]
    assert (
        AuditEntry.objects.filter(
            action="auth.second_factor.failed", organization=world.a.org
        ).count()
        == 2
    )
    events = Event.objects.filter(kind="security.auth_failure", payload__method="totp")
    assert events.count() == 2 and {e.organization for e in events} == {world.a.org}
    assert events.first().payload["subject"] == user.username


@pytest.mark.django_db
def test_enrolment_codes_are_throttled_too(world):
    user = world.a.user(Role.ADMIN)
    client = signed_in(user)
    client.get("/account/two-factor/")
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    post(client, wrong_code(device))
    response = post(client, right_code(device))
    assert response.status_code == 429 and "Wait 1 second" in response.content.decode()
    age_failures(device, 2)
    assert post(client, right_code(device)).status_code == 302
    device.refresh_from_db()
    assert device.confirmed
