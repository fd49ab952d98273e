"""Sign-in brute force (issue 15): lockout per account and per address, one answer for every
username, the real user back in after the cool-off, every failure audited and an event."""

import datetime

import pytest
from axes.models import AccessAttempt
from django.test import Client, override_settings
from django.utils import timezone

from encompass.audit.models import AuditEntry
from encompass.audit.services import verify_all
from encompass.events.models import Event
from encompass.tenancy.roles import Role

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("_low_limit")]

PASSWORD = "a-long-enough-password-1"
LIMIT = 3


@pytest.fixture
def _low_limit():
    with override_settings(AXES_FAILURE_LIMIT=LIMIT):
        yield


def attempt(username, password, ip="10.20.0.1", **extra):
    return Client(REMOTE_ADDR=ip).post(
        "/account/sign-in/", {"username": username, "password": password}, **extra
    )


def _age_attempts(minutes):
    AccessAttempt.objects.update(attempt_time=timezone.now() - datetime.timedelta(minutes=minutes))


def test_wrong_passwords_lock_the_account_and_the_right_one_waits_for_the_cool_off(world):
    user = world.a.user(Role.OPERATOR)
    user.set_password(PASSWORD)
    user.save()
    for _ in range(LIMIT - 1):
        assert attempt(user.username, "wrong-password").status_code == 200
    locked = attempt(user.username, "wrong-password")
    assert locked.status_code == 429
    assert "Too many failed sign-in attempts" in locked.content.decode()
    assert int(locked["Retry-After"]) == 15 * 60
    # The right password, even from another address, is refused until the cool-off ends ...
    refused = attempt(user.username, PASSWORD, ip="10.20.0.99")
    assert refused.status_code == 429
    assert "_auth_user_id" not in refused.client.session
    # ... and attempts during the lockout do not extend it.
    _age_attempts(16)
    response = attempt(user.username, PASSWORD, ip="10.20.0.99")
    assert response.status_code == 302
    assert response.client.session["_auth_user_id"] == str(user.pk)


def test_one_address_trying_many_usernames_is_locked_out(world):
    for n in range(LIMIT):
        attempt(f"guess{n}", "wrong-password", ip="10.20.0.2")
    user = world.a.user(Role.AUDITOR)
    user.set_password(PASSWORD)
    user.save()
    assert attempt(user.username, PASSWORD, ip="10.20.0.2").status_code == 429
    # The same user from an address with no failures signs in.
    assert attempt(user.username, PASSWORD, ip="10.20.0.3").status_code == 302


def test_the_address_is_the_forwarded_client_only_from_a_trusted_proxy(world):
    # Behind the trusted proxy (127.0.0.1) each forwarded client is counted on its own ...
    attempt("nobody", "x" * 12, ip="127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"198.51.100.7"}
    # ... and a forged header from anywhere else counts against the real address.
    attempt("other", "x" * 12, ip="10.20.0.4", HTTP_X_FORWARDED_FOR="203.0.113.1")
    assert AccessAttempt.objects.filter(ip_address="10.20.0.4").exists()


def test_the_lockout_answer_does_not_tell_whether_the_username_exists(world):
    real = world.a.user(Role.OPERATOR)
    answers = {}
    for name, ip in ((real.username, "10.20.1.1"), ("no-such-user", "10.20.1.2")):
        for _ in range(LIMIT):
            attempt(name, "wrong-password", ip=ip)
        locked = attempt(name, "wrong-password", ip=ip)
        body = locked.content.decode()
        answers[name] = (locked.status_code, body.replace(name, "<name>"))
    assert answers[real.username] == answers["no-such-user"]
    assert answers[real.username][0] == 429


def test_failures_and_the_lockout_are_audited_and_raise_security_events(world):
    user = world.a.user(Role.TECHNICIAN)
    for _ in range(LIMIT + 1):
        attempt(user.username, "wrong-password", ip="10.20.2.1")
    platform = AuditEntry.objects.filter(chain="platform", action="auth.sign_in_failed")
    assert platform.count() == LIMIT + 1
    assert platform.filter(changes__locked_out=True).count() == 1
    assert all(e.ip == "10.20.2.1" for e in platform)
    assert "wrong-password" not in str(list(platform.values_list("changes", flat=True)))
    in_org = AuditEntry.objects.filter(organization=world.a.org, action="auth.sign_in_failed")
    assert in_org.count() == LIMIT + 1
    lockouts = AuditEntry.objects.filter(action="auth.locked_out")
    assert {e.chain for e in lockouts} == {"platform", str(world.a.org.pk)}
    events = Event.objects.filter(organization=world.a.org, kind="security.auth_failure")
    assert events.filter(payload__method="password").count() == LIMIT + 2
    assert not Event.objects.filter(organization=world.b.org, kind="security.auth_failure")
    assert all(report.ok for report in verify_all())


def test_the_admin_login_is_behind_the_same_lockout(world):
    user = world.a.user(Role.OPERATOR)
    user.set_password(PASSWORD)
    user.save()
    for _ in range(LIMIT):
        attempt(user.username, "wrong-password", ip="10.20.3.1")
    client = Client(REMOTE_ADDR="10.20.3.1")
    client.post("/admin/login/", {"username": user.username, "password": PASSWORD})
    assert "_auth_user_id" not in client.session
