"""API-key revoke / suspend / resume through the REST API, per role: Security officers and
Admins act (ApiKey.role_permissions), Auditors see but may not act (403), other roles do not see
keys at all (404), and another tenant's officer gets 404. A refusal changes nothing."""

import pytest
from rest_framework.test import APIClient

from encompass.audit.models import AuditEntry
from encompass.tenancy.models import ApiKey
from encompass.tenancy.roles import Role
from encompass.tenancy.services import create_api_key, set_api_key_suspended

pytestmark = pytest.mark.django_db

EXPECTED = {
    Role.ADMIN: 200,
    Role.SECURITY_OFFICER: 200,
    Role.AUDITOR: 403,
    Role.OPERATOR: 404,
    Role.TECHNICIAN: 404,
}


def _client(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def _key(world, *, suspended=False):
    admin = world.a.user(Role.ADMIN)
    key, _plain = create_api_key(organization=world.a.org, name="siem", role="auditor", actor=admin)
    if suspended:
        set_api_key_suspended(key, True, actor=admin, reason="set-up")
    return key


@pytest.mark.parametrize("role", list(EXPECTED))
@pytest.mark.parametrize(
    ("verb", "suspended", "field", "after"),
    [
        ("revoke", False, "revoked_at", True),
        ("suspend", False, "suspended", True),
        ("resume", True, "suspended", False),
    ],
)
def test_key_actions_by_role(world, role, verb, suspended, field, after):
    key = _key(world, suspended=suspended)
    audited = AuditEntry.objects.filter(action=f"tenancy.apikey.{verb}").count()
    response = _client(world.a.user(role)).post(
        f"/api/v1/api-keys/{key.pk}/{verb}/", {"reason": "rotation"}, format="json"
    )
    assert response.status_code == EXPECTED[role], (role, verb, response.content)
    key.refresh_from_db()
    changed = (getattr(key, field) is not None) if field == "revoked_at" else getattr(key, field)
    if EXPECTED[role] == 200:
        assert changed is after
        assert AuditEntry.objects.filter(action=f"tenancy.apikey.{verb}").count() == audited + 1
    else:
        assert changed is (not after)
        assert AuditEntry.objects.filter(action=f"tenancy.apikey.{verb}").count() == audited


@pytest.mark.parametrize("verb", ["revoke", "suspend", "resume"])
def test_other_tenants_officer_gets_404(world, verb):
    key = _key(world, suspended=verb == "resume")
    response = _client(world.b.user(Role.SECURITY_OFFICER)).post(
        f"/api/v1/api-keys/{key.pk}/{verb}/", {"reason": "x"}, format="json"
    )
    assert response.status_code == 404
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None
