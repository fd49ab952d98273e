"""Second factor in the admin, web UI and session API; the admin is members-only and
tenant-scoped; guardian's grant screens belong to the organization's Admins; probes; schema."""

import re

import pytest
from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from encompass.audit.models import AuditEntry
from encompass.events.models import WorkerHeartbeat
from encompass.tenancy.invitations import accept_invitation
from encompass.tenancy.models import ApiKey, Membership, MembershipInvitation
from encompass.tenancy.roles import Role
from encompass.tenancy.services import create_api_key
from encompass.testing.factories import make_user

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-enough-password-1"


def sign_in(user):
    user.set_password(PASSWORD)
    user.save()
    client = Client()
    response = client.post("/account/sign-in/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302, response.content
    return client


def verify_totp(client, user):
    device = TOTPDevice.objects.filter(
        user=user, confirmed=True
    ).first() or TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    token = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token()
    response = client.post("/account/two-factor/", {"token": f"{token:06d}"})
    assert response.status_code == 302, response.content
    return client


# --- second factor ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.ADMIN, Role.SECURITY_OFFICER])
@pytest.mark.parametrize("path", ["/overview/", "/admin/", "/admin/tenancy/site/"])
def test_privileged_roles_need_totp_in_web_and_admin(world, role, path):
    client = sign_in(world.a.user(role))
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/account/two-factor/")


@pytest.mark.parametrize("role", [Role.ADMIN, Role.SECURITY_OFFICER])
def test_session_api_needs_totp(world, role):
    client = sign_in(world.a.user(role))
    assert client.get("/api/v1/sites/").status_code in (401, 403)
    verify_totp(client, world.a.user(role))
    assert client.get("/api/v1/sites/").status_code == 200


def test_first_sign_in_enrolls_an_authenticator(world):
    user = world.a.user(Role.ADMIN)
    client = sign_in(user)
    page = client.get("/account/two-factor/").content.decode()
    assert "Set up your authenticator" in page
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', page).group(1)
    # Nothing about the tenant is shown before the second factor.
    assert "Tenant A" not in page
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    assert secret.startswith(device.key[:0] or "")
    assert client.post("/account/two-factor/", {"token": "000000"}).status_code == 200
    device.refresh_from_db()
    device.throttle_reset()  # django-otp delays the next try after a failure
    token = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token()
    response = client.post("/account/two-factor/", {"token": f"{token:06d}", "next": "/overview/"})
    assert response.status_code == 302 and response["Location"] == "/overview/"
    assert TOTPDevice.objects.get(pk=device.pk).confirmed
    assert client.get("/overview/").status_code == 200
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {
        "auth.second_factor.enrolled",
        "auth.second_factor.verified",
        "auth.second_factor.failed",
    } <= actions


def test_two_factor_refuses_an_offsite_next(world):
    user = world.a.user(Role.ADMIN)
    client = sign_in(user)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    token = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token()
    response = client.post(
        "/account/two-factor/", {"token": f"{token:06d}", "next": "https://evil.example/"}
    )
    assert response["Location"] == "/"


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.TECHNICIAN, Role.AUDITOR])
def test_other_roles_do_not_need_totp(world, role):
    client = sign_in(world.a.user(role))
    assert client.get("/overview/").status_code == 200


# --- admin -------------------------------------------------------------------------------------------


def test_admin_is_for_members_only(world):
    loner = make_user(is_staff=True)
    client = sign_in(loner)
    assert client.get("/admin/", follow=True).status_code == 403
    assert client.get("/admin/tenancy/site/", follow=True).status_code == 403
    superuser = make_user(is_staff=True, is_superuser=True)
    assert sign_in(superuser).get("/admin/tenancy/site/", follow=True).status_code == 403


def test_admin_login_goes_through_the_web_sign_in(client):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/account/sign-in/")


def test_admin_changelists_are_tenant_scoped(world):
    client = sign_in(world.a.user(Role.OPERATOR))
    body = client.get("/admin/tenancy/site/").content.decode()
    assert "A site 1" in body and "B site 1" not in body
    assert client.get(f"/admin/tenancy/site/{world.b.sites[0].pk}/change/").status_code in (
        302,
        404,
    )
    assert client.get(f"/admin/tenancy/site/{world.a.sites[0].pk}/change/").status_code == 200
    assert client.get("/admin/tenancy/organization/").content.decode().count("Tenant B") == 0


def test_admin_site_edit_by_operator_is_refused(world):
    client = sign_in(world.a.user(Role.OPERATOR))
    site = world.a.sites[0]
    response = client.post(
        f"/admin/tenancy/site/{site.pk}/change/",
        {"organization": world.a.org.pk, "name": "Hijacked", "slug": site.slug, "time_zone": "UTC"},
    )
    assert response.status_code == 403
    site.refresh_from_db()
    assert site.name == "A site 1"


def admin_client(world, tenant="a"):
    tenant = getattr(world, tenant)
    user = tenant.user(Role.ADMIN)
    return verify_totp(sign_in(user), user)


def test_admin_site_create_goes_through_the_service_and_is_audited(world):
    client = admin_client(world)
    response = client.post(
        "/admin/tenancy/site/add/",
        {"organization": world.a.org.pk, "name": "Depot", "slug": "depot", "time_zone": "UTC"},
    )
    assert response.status_code == 302, response.content
    entry = AuditEntry.objects.get(action="tenancy.site.create")
    assert entry.channel == "admin" and entry.organization == world.a.org
    # Another tenant's organization is not a choice.
    response = client.post(
        "/admin/tenancy/site/add/",
        {"organization": world.b.org.pk, "name": "Sneaky", "slug": "sneaky", "time_zone": "UTC"},
    )
    assert response.status_code == 200
    assert "organization" in response.context["adminform"].form.errors


def test_admin_membership_add_change_delete_through_services(world):
    client = admin_client(world)
    newcomer = make_user()
    # Adding is an invitation (issue 15): the newcomer joins by accepting it.
    assert client.get("/admin/tenancy/membership/add/").status_code == 403
    response = client.post(
        "/admin/tenancy/membershipinvitation/add/",
        {"username": newcomer.username, "organization": world.a.org.pk, "role": "operator"},
    )
    assert response.status_code == 302, response.content
    assert not Membership.objects.filter(user=newcomer).exists()
    invitation = MembershipInvitation.objects.get(username=newcomer.username)
    membership = accept_invitation(invitation, actor=newcomer)
    response = client.post(
        f"/admin/tenancy/membership/{membership.pk}/change/",
        {"organization": world.a.org.pk, "role": "technician", "sites": [world.a.sites[0].pk]},
    )
    assert response.status_code == 302, response.content
    membership.refresh_from_db()
    assert membership.role == "technician"
    response = client.post(f"/admin/tenancy/membership/{membership.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()
    actions = list(
        AuditEntry.objects.filter(object_type="tenancy.Membership", object_id=str(membership.pk))
        .order_by("sequence")
        .values_list("action", flat=True)
    )
    assert actions == [
        "tenancy.membership.create",
        "tenancy.membership.update",
        "tenancy.membership.delete",
    ]


def test_admin_api_key_shown_once_and_actions(world):
    client = admin_client(world)
    response = client.post(
        "/admin/tenancy/apikey/add/",
        {"organization": world.a.org.pk, "name": "SIEM", "role": "auditor", "days": 30},
        follow=True,
    )
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    assert any(re.search(r"enc_[0-9a-f]{12}_\S+", m) for m in shown)
    key = ApiKey.objects.get(name="SIEM")
    later = client.get(f"/admin/tenancy/apikey/{key.pk}/change/").content.decode()
    assert not re.search(r"enc_[0-9a-f]{12}_[A-Za-z0-9_-]{20,}", later)
    response = client.post(
        "/admin/tenancy/apikey/",
        {"action": "suspend_keys", "_selected_action": [key.pk]},
    )
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.suspended
    client.post("/admin/tenancy/apikey/", {"action": "revoke_keys", "_selected_action": [key.pk]})
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_grant_screens_for_the_organizations_admins_only(world):
    org_a = world.a.org
    url = f"/admin/tenancy/organization/{org_a.pk}/permissions/"
    assert admin_client(world).get(url).status_code == 200
    assert sign_in(world.a.user(Role.OPERATOR)).get(url).status_code in (302, 403, 404)
    assert admin_client(world, "b").get(url).status_code == 404
    officer = world.a.user(Role.SECURITY_OFFICER)
    assert verify_totp(sign_in(officer), officer).get(url).status_code in (302, 403, 404)


def test_grant_through_guardian_screen_is_audited(world):
    client = admin_client(world)
    target = make_user()
    site = world.a.sites[1]
    url = f"/admin/tenancy/site/{site.pk}/permissions/user-manage/{target.pk}/"
    page = client.get(url)
    assert page.status_code == 200
    choices = [c for c, _ in page.context["form"].fields["permissions"].choices]
    assert choices and all(c.startswith("role_") for c in choices)
    response = client.post(url, {"permissions": ["role_technician"]})
    assert response.status_code == 302
    entry = AuditEntry.objects.get(action="tenancy.permission.change")
    assert entry.changes["granted"] == ["role_technician"]
    assert entry.channel == "admin"


def test_audit_admin_is_read_only_and_export_is_audited(world):
    client = admin_client(world)
    entry = AuditEntry.objects.filter(organization=world.a.org).first()
    assert client.get("/admin/audit/auditentry/").status_code == 200
    response = client.post(f"/admin/audit/auditentry/{entry.pk}/change/", {"action": "forged"})
    assert response.status_code == 403
    response = client.post(
        "/admin/audit/auditentry/",
        {"action": "export_csv", "_selected_action": [entry.pk]},
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert AuditEntry.objects.filter(action="audit.export", organization=world.a.org).exists()
    # Operators do not see the trail at all.
    assert sign_in(world.a.user(Role.OPERATOR)).get("/admin/audit/auditentry/").status_code == 403


def test_changelist_query_count_does_not_grow(world, django_assert_max_num_queries):
    client = admin_client(world)
    for i in range(3):
        create_api_key(
            organization=world.a.org, name=f"k{i}", role="auditor", actor=world.a.user(Role.ADMIN)
        )
    with django_assert_max_num_queries(30) as few:
        client.get("/admin/tenancy/apikey/")
    for i in range(3, 20):
        create_api_key(
            organization=world.a.org, name=f"k{i}", role="auditor", actor=world.a.user(Role.ADMIN)
        )
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get("/admin/tenancy/apikey/")
    with django_assert_max_num_queries(30) as few:
        client.get("/admin/tenancy/membership/")
    with django_assert_max_num_queries(30):
        client.get("/admin/audit/auditentry/")


# --- probes and schema ---------------------------------------------------------------------------


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_reports_a_stale_worker(client, db):
    WorkerHeartbeat.objects.update_or_create(
        name="default", defaults={"beat_at": timezone.now() - timezone.timedelta(minutes=10)}
    )
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["channel_layer"] == "ok"
    assert body["checks"]["worker"].startswith("failing")


def test_readyz_without_any_heartbeat_is_unavailable(client, db):
    assert client.get("/readyz").status_code == 503


def test_readyz_ok_with_a_fresh_heartbeat(client, db):
    from encompass.tasks import worker_heartbeat

    worker_heartbeat()
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "ok"


def test_schema_and_swagger_without_cdn(client, db):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    text = schema.content.decode()
    assert "openapi: 3" in text
    for path in (
        "/api/v1/sites/",
        "/api/v1/memberships/",
        "/api/v1/api-keys/",
        "/api/v1/audit-entries/",
    ):
        assert path in text
    page = client.get("/api/schema/swagger/").content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources, page
    assert all(s.startswith("/") and not s.startswith("//") for s in sources), sources
    assert "cdn" not in page.lower()


# --- grants through a group (guardian group object permissions) ----------------------------------


def _grant_through_group(user, role, organization):
    from django.contrib.auth.models import Group
    from guardian.shortcuts import assign_perm

    from encompass.tenancy.roles import permission_codename

    group = Group.objects.create(name=f"{organization.slug}-{role}-group")
    group.user_set.add(user)
    assign_perm(f"tenancy.{permission_codename(role)}", group, organization)
    return group


@pytest.mark.parametrize("role", [Role.ADMIN, Role.SECURITY_OFFICER])
def test_a_group_granted_privileged_role_needs_the_second_factor(world, role):
    """all_roles_of once counted only direct grants: an Admin made so through a group signed in
    without TOTP and saw a member's menus."""
    from encompass.tenancy.access import all_roles_of, roles_in
    from encompass.tenancy.mfa import requires_second_factor

    user = make_user()
    _grant_through_group(user, role, world.a.org)
    assert roles_in(user, world.a.org) == {role.value}
    assert all_roles_of(user) == {role.value}
    assert requires_second_factor(user)

    client = sign_in(user)
    response = client.get("/overview/")
    assert response.status_code == 302
    assert response["Location"].startswith("/account/two-factor/")
    verify_totp(client, user)
    assert client.get("/overview/").status_code == 200


def test_a_group_granted_admin_gets_the_admins_admin_site(world):
    """The admin site asks all_roles_of which models a user may see and add: an Operator member
    made Admin through a group gets an Admin's admin site."""
    from encompass.testing.factories import make_member

    via_group = make_member(world.a.org, Role.OPERATOR)
    via_group.is_staff = True
    via_group.save()
    _grant_through_group(via_group, Role.ADMIN, world.a.org)
    client = verify_totp(sign_in(via_group), via_group)
    index = client.get("/admin/")
    assert index.status_code == 200
    assert b"/admin/tenancy/site/add/" in index.content
    assert client.get("/admin/tenancy/site/add/").status_code == 200
