"""The admin within a user's reach: the membership change page for every role, and filters on
related fields that offer only the rows the user may see (never another organization's names)."""

import pytest
from django.contrib import admin
from django.contrib.admin import RelatedFieldListFilter, RelatedOnlyFieldListFilter
from django.contrib.admin.utils import get_fields_from_path
from django.test import RequestFactory

from devices.identity.models import CertificateAuthority
from encompass.admin import TenantAdmin, TenantRelatedFieldListFilter
from encompass.tenancy.models import Membership, Organization
from encompass.tenancy.roles import Role
from encompass.tenancy.services import add_membership
from encompass.testing.factories import make_org
from encompass.testing.web import web

pytestmark = pytest.mark.django_db

EVERY_ROLE = [*Role.values, "site_technician"]


def member_of(world, role):
    return world.site_technician if role == "site_technician" else world.a.user(role)


# --- the membership change page -------------------------------------------------------------------


@pytest.mark.parametrize("role", EVERY_ROLE)
def test_membership_change_page_answers_every_role(world, role):
    """Issue 27: a role that may only view got a 500 (``KeyError: 'organization'``)."""
    client = web(member_of(world, role))
    membership = Membership.objects.get(user=world.a.user(Role.OPERATOR))
    response = client.get(f"/admin/tenancy/membership/{membership.pk}/change/")
    assert response.status_code == 200
    form = response.context["adminform"].form
    if role == Role.ADMIN:
        assert form.fields["organization"].disabled
        assert "username" not in form.fields and "role" in form.fields
    else:
        assert set(form.fields) == set()  # every field read-only: nothing to submit
        assert "Save" not in response.content.decode()
        # And a POST is refused without changing anything.
        response = client.post(
            f"/admin/tenancy/membership/{membership.pk}/change/", {"role": Role.ADMIN}
        )
        assert response.status_code == 403
        membership.refresh_from_db()
        assert membership.role == Role.OPERATOR


def test_membership_change_page_of_another_tenant_is_not_found(world):
    client = web(world.a.user(Role.AUDITOR))
    other = Membership.objects.filter(organization=world.b.org).first()
    response = client.get(f"/admin/tenancy/membership/{other.pk}/change/")
    assert response.status_code == 302  # Django's "doesn't exist" redirect to the admin index
    assert "Tenant B" not in client.get(response["Location"], follow=True).content.decode()


# --- filters on related fields ---------------------------------------------------------------------


@pytest.fixture
def admin_of_a_and_c(world):
    """The Admin of A is also an Admin of a third organization C: a filter has two choices to
    show (a filter with a single choice is not rendered at all)."""
    user = world.a.user(Role.ADMIN)
    tenant_c = make_org(name="Tenant C", slug="tenant-c")
    add_membership(organization=tenant_c, user=user, role=Role.ADMIN, actor=None)
    return web(user)


@pytest.mark.parametrize(
    "path",
    [
        "/admin/tenancy/site/",
        "/admin/tenancy/membership/",
        "/admin/tenancy/apikey/",
        "/admin/audit/auditentry/",
    ],
)
def test_organization_filter_lists_only_reachable_organizations(world, admin_of_a_and_c, path):
    body = admin_of_a_and_c.get(path).content.decode()
    assert "By organization" in body
    assert "Tenant C" in body and "Tenant A" in body
    assert "Tenant B" not in body


def test_authority_filter_lists_only_reachable_authorities(world, admin_of_a_and_c):
    from devices.identity.services.authorities import create_certificate_authority

    admin_of_a = world.a.user(Role.ADMIN)
    tenant_c = Organization.objects.get(slug="tenant-c")
    for org, actor in (
        (world.a.org, admin_of_a),
        (tenant_c, admin_of_a),
        (world.b.org, world.b.user(Role.ADMIN)),
    ):
        create_certificate_authority(organization=org, name=f"{org.name} issuing CA", actor=actor)
    body = admin_of_a_and_c.get("/admin/identity/devicecertificate/").content.decode()
    assert CertificateAuthority.objects.count() == 3
    assert "Tenant A issuing CA" in body and "Tenant C issuing CA" in body
    assert "Tenant B issuing CA" not in body


def test_every_related_filter_of_every_admin_is_within_reach(world, admin_of_a_and_c):
    """Every registered admin is a TenantAdmin; each of its filters on a related field is the
    tenant filter (or Django's related-only one, limited to the restricted queryset), and what a
    rendered filter offers is within the user's reach."""
    user = world.a.user(Role.ADMIN)
    request = RequestFactory().get("/admin/")
    request.user = user
    related_filters = 0
    for model, model_admin in admin.site._registry.items():
        assert isinstance(model_admin, TenantAdmin), f"{model.__name__} admin is not tenant-aware"
        for item in model_admin.get_list_filter(request):
            name, spec_class = item if isinstance(item, tuple | list) else (item, None)
            if not isinstance(name, str):
                continue  # a SimpleListFilter class: its own lookups
            if get_fields_from_path(model, name)[-1].is_relation:
                assert spec_class in (TenantRelatedFieldListFilter, RelatedOnlyFieldListFilter), (
                    f"{model.__name__}: the {name!r} filter lists every row of the related model"
                )
                related_filters += 1
        changelist = model_admin.get_changelist_instance(request)
        for spec in changelist.filter_specs:
            if not isinstance(spec, RelatedFieldListFilter):
                continue
            manager = spec.field.related_model._default_manager
            if hasattr(manager, "restrict"):
                reach = {
                    str(pk) for pk in manager.restrict(user, "view").values_list("pk", flat=True)
                }
                offered = {str(pk) for pk, _label in spec.lookup_choices}
                assert offered <= reach, (model.__name__, spec.field_path)
    assert related_filters >= 10


def test_a_superuser_member_lists_no_other_tenants_users_or_authenticators(world):
    """Global permissions never cross a tenant: the auth, OTP and django-q admins (which answer
    from them) are not on the site."""
    user = world.a.user(Role.OPERATOR)
    user.is_superuser = True
    user.save()
    client = web(user)
    for path in (
        "/admin/auth/user/",
        "/admin/auth/group/",
        "/admin/otp_totp/totpdevice/",
        "/admin/django_q/schedule/",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "b-admin" not in response.content.decode()
    index = client.get("/admin/").content.decode()
    assert "/admin/auth/" not in index and "/admin/django_q/" not in index


# --- found by the crawl (tests/crawl) ------------------------------------------------------------


def test_user_choices_are_members_within_reach(world):
    """An "owner" choice (risk, asset, assessment, mitigation) listed every tenant's users."""
    client = web(world.a.user(Role.ADMIN))
    body = client.get("/admin/risk/asset/add/").content.decode()
    assert "a-operator" in body
    assert "b-operator" not in body and "outsider" not in body


def test_a_service_refusal_in_the_admin_is_a_message_not_a_server_error(world):
    """Check-result evidence is written by the checks only: its change page is read-only, and a
    save the service refuses anyway is shown as an error, never a 500."""
    from compliance.choices import EvidenceKind
    from compliance.models import Evidence

    evidence = Evidence.objects.create(
        organization=world.a.org, title="Fleet check", kind=EvidenceKind.CHECK_RESULT
    )
    client = web(world.a.user(Role.ADMIN))
    url = f"/admin/compliance/evidence/{evidence.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert client.post(url, {"title": "Edited", "_save": "Save"}).status_code == 403
    assert client.get(f"/admin/compliance/evidence/{evidence.pk}/delete/").status_code == 403
    evidence.refresh_from_db()
    assert evidence.title == "Fleet check"
