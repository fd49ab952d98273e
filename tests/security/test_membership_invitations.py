"""Memberships by consent (issue 15): an Admin invites a username and the user joins only by
accepting; the answer for an unknown username is the same as for a known one."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from encompass.audit.models import AuditEntry
from encompass.exceptions import NotPermitted
from encompass.tenancy.invitations import accept_invitation, invite_member
from encompass.tenancy.models import Membership, MembershipInvitation
from encompass.tenancy.roles import Role
from encompass.tenancy.services import add_membership
from encompass.testing.factories import make_user

pytestmark = pytest.mark.django_db


def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def invite(world, username, role="admin"):
    return api(world.a.user(Role.ADMIN)).post(
        "/api/v1/membership-invitations/",
        {"organization": world.a.org.pk, "username": username, "role": role},
        format="json",
    )


def _shape(response, username):
    body = response.json()
    for volatile in ("id", "expires_at", "created_at"):
        body.pop(volatile)
    return response.status_code, {k: (v if v != username else "<name>") for k, v in body.items()}


def test_another_organizations_user_is_invited_not_made_a_member(world):
    theirs = world.b.user(Role.OPERATOR)
    response = invite(world, theirs.username)
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "pending"
    assert not Membership.objects.filter(organization=world.a.org, user=theirs).exists()
    # Nothing was granted: B's user still sees nothing of A.
    assert world.a.org.pk not in {
        o["id"] for o in api(theirs).get("/api/v1/organizations/").json()["results"]
    }


def test_unknown_and_known_usernames_get_the_same_answer(world):
    known = make_user()
    a = invite(world, known.username)
    b = invite(world, "nobody-by-this-name")
    assert _shape(a, known.username) == _shape(b, "nobody-by-this-name")
    # The old way in answers without naming the user either: memberships are not created here.
    old = api(world.a.user(Role.ADMIN)).post(
        "/api/v1/memberships/",
        {"organization": world.a.org.pk, "username": "nobody-by-this-name", "role": "admin"},
        format="json",
    )
    assert old.status_code == 405
    assert "nobody-by-this-name" not in old.content.decode()


def test_the_invited_user_joins_by_accepting_in_the_web_ui(world):
    newcomer = make_user(password="a-long-enough-password-1")
    invitation_id = invite(world, newcomer.username, role="auditor").json()["id"]
    client = Client()
    client.force_login(newcomer)
    page = client.get("/invitations/").content.decode()
    assert world.a.org.name in page and "Auditor" in page
    response = client.post(f"/invitations/{invitation_id}/", {"answer": "accept"})
    assert response.status_code == 302
    membership = Membership.objects.get(organization=world.a.org, user=newcomer)
    assert membership.role == "auditor"
    assert membership.created_by == world.a.user(Role.ADMIN)
    actions = list(
        AuditEntry.objects.filter(organization=world.a.org)
        .order_by("sequence")
        .values_list("action", flat=True)
    )
    assert actions[-3:] == [
        "tenancy.invitation.create",
        "tenancy.membership.create",
        "tenancy.invitation.accept",
    ]
    # Accepted once; a second answer finds nothing.
    again = client.post(f"/invitations/{invitation_id}/", {"answer": "accept"})
    assert again.status_code == 404


def test_only_the_named_user_can_accept(world):
    newcomer = make_user()
    invitation = invite_member(
        organization=world.a.org,
        username=newcomer.username,
        role=Role.ADMIN,
        actor=world.a.user(Role.ADMIN),
    )
    for intruder in (world.b.user(Role.ADMIN), world.a.user(Role.OPERATOR), make_user()):
        with pytest.raises(NotPermitted):
            accept_invitation(invitation, actor=intruder)
        client = Client()
        client.force_login(intruder)
        assert client.post(f"/invitations/{invitation.pk}/", {"answer": "accept"}).status_code in (
            302,  # a privileged user is sent to the second factor first
            404,
        )
    assert not Membership.objects.filter(organization=world.a.org, role=Role.ADMIN).exclude(
        user=world.a.user(Role.ADMIN)
    )
    invitation.refresh_from_db()
    assert invitation.status == "pending"


def test_declined_and_revoked_invitations_make_no_membership(world):
    newcomer = make_user()
    first = invite(world, newcomer.username).json()["id"]
    client = Client()
    client.force_login(newcomer)
    client.post(f"/invitations/{first}/", {"answer": "decline"})
    second = invite(world, newcomer.username).json()["id"]
    admin = api(world.a.user(Role.ADMIN))
    assert admin.post(f"/api/v1/membership-invitations/{second}/revoke/").status_code == 200
    assert client.post(f"/invitations/{second}/", {"answer": "accept"}).status_code == 404
    assert set(MembershipInvitation.objects.values_list("status", flat=True)) == {
        "declined",
        "revoked",
    }
    assert not Membership.objects.filter(user=newcomer).exists()


def test_a_tenant_admin_cannot_add_a_member_directly_in_the_service(world):
    with pytest.raises(NotPermitted):
        add_membership(
            organization=world.a.org,
            user=world.b.user(Role.OPERATOR),
            role=Role.ADMIN,
            actor=world.a.user(Role.ADMIN),
        )
    with pytest.raises(NotPermitted):
        invite_member(
            organization=world.a.org,
            username="x",
            role=Role.ADMIN,
            actor=world.a.user(Role.SECURITY_OFFICER),
        )
