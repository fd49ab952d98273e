"""The API contract every tenant endpoint passes: CRUD per role, tenant isolation, audit.

Subclass in a ``Test*`` class and give a few lines of data::

    class TestSiteAPI(TenantAPIContract):
        basename = "site"
        model = Site

        def make(self, world, tenant):
            return make_site(tenant.org)

        def create_payload(self, world, tenant):
            return {"organization": tenant.org.pk, "name": "New", "slug": "new"}

        def update_payload(self, world, obj):
            return {"name": "Renamed"}

The expected outcome for each role comes from the model's ``role_permissions`` table, so a
change of policy changes the tests with it. Set ``creatable`` / ``updatable`` / ``deletable`` to
False for endpoints that do not offer the operation, and override ``allowed_roles`` where a
service enforces more than the table (e.g. only procured devices may be deleted).
"""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from encompass.audit.models import AuditEntry
from encompass.tenancy.access import allowed_roles
from encompass.tenancy.roles import Role

ROLES = Role.values


@pytest.mark.django_db
class TenantAPIContract:
    basename = None
    model = None
    creatable = True
    updatable = True
    deletable = True
    audit_action_prefix = None  # default: "<app_label>.<model_name>"

    # --- data hooks ---------------------------------------------------------------------------
    def make(self, world, tenant):
        raise NotImplementedError

    def create_payload(self, world, tenant):
        raise NotImplementedError

    def update_payload(self, world, obj):
        raise NotImplementedError

    def allowed(self, action):
        return set(allowed_roles(self.model, action))

    # --- plumbing -------------------------------------------------------------------------------
    def client_for(self, user):
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    def list_url(self):
        return reverse(f"{self.basename}-list")

    def detail_url(self, obj):
        return reverse(f"{self.basename}-detail", args=[obj.pk])

    def audit_prefix(self):
        return self.audit_action_prefix or self.model._meta.label_lower

    def audited(self, pk, verb):
        return AuditEntry.objects.filter(
            object_type=self.model._meta.label,
            object_id=str(pk),
            action__startswith=self.audit_prefix(),
            action__endswith=verb,
        ).exists()

    @staticmethod
    def ids(response):
        data = response.json()
        rows = data["results"] if isinstance(data, dict) and "results" in data else data
        return {row["id"] for row in rows}

    # --- reads ----------------------------------------------------------------------------------
    @pytest.mark.parametrize("role", ROLES)
    def test_list_shows_own_tenant_only(self, world, role):
        mine = self.make(world, world.a)
        theirs = self.make(world, world.b)
        response = self.client_for(world.a.user(role)).get(self.list_url())
        if role not in self.allowed("view"):
            assert response.status_code in (200, 403)
            if response.status_code == 200:
                assert mine.pk not in self.ids(response)
            return
        assert response.status_code == 200, response.content
        ids = self.ids(response)
        assert mine.pk in ids
        assert theirs.pk not in ids

    def test_detail_of_other_tenant_is_not_found(self, world):
        theirs = self.make(world, world.b)
        client = self.client_for(world.a.user(Role.ADMIN))
        assert client.get(self.detail_url(theirs)).status_code == 404

    def test_anonymous_is_refused(self, world):
        mine = self.make(world, world.a)
        client = self.client_for(None)
        assert client.get(self.list_url()).status_code in (401, 403)
        assert client.get(self.detail_url(mine)).status_code in (401, 403)

    def test_outsider_sees_nothing(self, world):
        mine = self.make(world, world.a)
        client = self.client_for(world.outsider)
        response = client.get(self.list_url())
        assert response.status_code == 200
        assert mine.pk not in self.ids(response)
        assert client.get(self.detail_url(mine)).status_code == 404

    # --- writes ---------------------------------------------------------------------------------
    @pytest.mark.parametrize("role", ROLES)
    def test_create_by_role(self, world, role):
        if not self.creatable:
            pytest.skip("endpoint offers no create")
        before = self.model._default_manager.count()
        payload = self.create_payload(world, world.a)
        response = self.client_for(world.a.user(role)).post(self.list_url(), payload, format="json")
        if role in self.allowed("add"):
            assert response.status_code == 201, response.content
            pk = response.json()["id"]
            assert self.model._default_manager.filter(pk=pk, organization=world.a.org).exists()
            assert self.audited(pk, "create"), "a create must leave an audit entry"
        else:
            assert response.status_code in (400, 403, 404), response.content
            assert self.model._default_manager.count() == before

    def test_create_in_other_tenant_is_refused(self, world):
        if not self.creatable:
            pytest.skip("endpoint offers no create")
        before = self.model._default_manager.count()
        payload = self.create_payload(world, world.b)
        response = self.client_for(world.a.user(Role.ADMIN)).post(
            self.list_url(), payload, format="json"
        )
        assert response.status_code in (400, 403, 404), response.content
        assert self.model._default_manager.count() == before

    @pytest.mark.parametrize("role", ROLES)
    def test_update_by_role(self, world, role):
        if not self.updatable:
            pytest.skip("endpoint offers no update")
        obj = self.make(world, world.a)
        payload = self.update_payload(world, obj)
        response = self.client_for(world.a.user(role)).patch(
            self.detail_url(obj), payload, format="json"
        )
        if role in self.allowed("change"):
            assert response.status_code == 200, response.content
            assert self.audited(obj.pk, "update"), "an update must leave an audit entry"
        else:
            assert response.status_code in (403, 404), response.content
            assert not self.audited(obj.pk, "update")

    def test_update_of_other_tenant_is_not_found(self, world):
        if not self.updatable:
            pytest.skip("endpoint offers no update")
        theirs = self.make(world, world.b)
        payload = self.update_payload(world, theirs)
        response = self.client_for(world.a.user(Role.ADMIN)).patch(
            self.detail_url(theirs), payload, format="json"
        )
        assert response.status_code == 404
        assert not self.audited(theirs.pk, "update")

    @pytest.mark.parametrize("role", ROLES)
    def test_delete_by_role(self, world, role):
        if not self.deletable:
            pytest.skip("endpoint offers no delete")
        obj = self.make(world, world.a)
        response = self.client_for(world.a.user(role)).delete(self.detail_url(obj))
        exists = self.model._default_manager.filter(pk=obj.pk).exists()
        if role in self.allowed("delete"):
            assert response.status_code == 204, response.content
            assert not exists
            assert self.audited(obj.pk, "delete"), "a delete must leave an audit entry"
        else:
            assert response.status_code in (403, 404), response.content
            assert exists

    def test_delete_of_other_tenant_is_not_found(self, world):
        if not self.deletable:
            pytest.skip("endpoint offers no delete")
        theirs = self.make(world, world.b)
        response = self.client_for(world.a.user(Role.ADMIN)).delete(self.detail_url(theirs))
        assert response.status_code == 404
        assert self.model._default_manager.filter(pk=theirs.pk).exists()


def api_key_client(tenant, role=Role.AUDITOR, *, name="test key"):
    """An APIClient authenticated with a new API key of ``tenant`` holding ``role``."""
    from encompass.tenancy.services import create_api_key

    _key, plaintext = create_api_key(
        organization=tenant.org, name=name, role=role, actor=tenant.user(Role.ADMIN)
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    return client
