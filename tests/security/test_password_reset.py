"""Password reset by email (issue 15): Django's single-use expiring tokens, the same answer for
unknown addresses, throttled, audited, the link on the configured public base URL."""

import re

import pytest
from django.core import mail
from django.test import Client, override_settings

from encompass.audit.models import AuditEntry
from encompass.tenancy.roles import Role

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-brand-new-long-password-7"


def with_password(user):
    user.set_password("the-old-long-password-1")
    user.save()
    return user


def request_reset(email, ip="10.40.0.1"):
    return Client(REMOTE_ADDR=ip).post("/account/password-reset/", {"email": email})


def link_in(message):
    return re.search(r"https?://[^/\s]+(/account/password-reset/\S+/)", message.body)


@override_settings(
    ENCOMPASS={
        **__import__("django.conf").conf.settings.ENCOMPASS,
        "PUBLIC_BASE_URL": "https://fleet.example.test",
    }
)
def test_reset_by_email_link_works_once(world):
    user = with_password(world.a.user(Role.OPERATOR))
    response = request_reset(user.email)
    assert response.status_code == 302
    assert response["Location"] == "/account/password-reset/sent/"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [user.email]
    found = link_in(mail.outbox[0])
    assert found.group(0).startswith("https://fleet.example.test/account/password-reset/")
    client = Client()
    form = client.get(found.group(1), follow=True)
    assert "Choose a new password" in form.content.decode()
    done = client.post(
        form.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert done.status_code == 302 and done["Location"] == "/account/password-reset/done/"
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    # The same link a second time is refused, and the refusal is audited.
    again = Client().get(found.group(1), follow=True).content.decode()
    assert "has been used already, has expired, or is not valid" in again
    assert AuditEntry.objects.filter(
        action="auth.password_reset.failed", organization=world.a.org
    ).exists()
    actions = set(
        AuditEntry.objects.filter(organization=world.a.org).values_list("action", flat=True)
    )
    assert {"auth.password_reset.requested", "auth.password_reset.completed"} <= actions


def test_unknown_address_gets_the_same_answer_and_no_email(world):
    known = request_reset(with_password(world.a.user(Role.AUDITOR)).email, ip="10.40.0.2")
    unknown = request_reset("nobody@example.test", ip="10.40.0.3")
    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    assert [m.to for m in mail.outbox] == [[world.a.user(Role.AUDITOR).email]]
    entry = AuditEntry.objects.get(
        chain="platform", action="auth.password_reset.requested", object_repr="nobody@example.test"
    )
    assert entry.changes["accounts"] == 0


def test_requests_are_throttled_per_email_and_per_address(world):
    user = with_password(world.a.user(Role.TECHNICIAN))
    for n in range(5):
        assert request_reset(user.email, ip=f"10.40.1.{n}").status_code == 302
    refused = request_reset(user.email, ip="10.40.1.99")
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert len(mail.outbox) == 5
    for n in range(5):
        request_reset(f"someone{n}@example.test", ip="10.40.2.1")
    assert request_reset("fresh@example.test", ip="10.40.2.1").status_code == 429
    # The same throttle answer for an address nobody has.
    assert request_reset("fresh@example.test", ip="10.40.2.2").status_code == 302
