"""The audit trail: every write leaves an entry (services, admin, API, sign-ins, permission
changes, exports), and ``audit_verify`` catches edited, inserted and deleted rows."""

import io

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from encompass.audit.models import AuditChain, AuditEntry
from encompass.audit.services import record_audit, verify_chain
from encompass.tenancy.models import Site
from encompass.tenancy.roles import Role
from encompass.tenancy.services import set_object_roles
from encompass.testing.factories import make_user

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-enough-password-1"


def _chain_of(org, count=4):
    for i in range(count):
        record_audit(f"test.step{i}", actor="test", organization=org, changes={"i": i})
    return str(org.pk)


def _verify_fails(org):
    with pytest.raises(CommandError, match="failed verification"):
        call_command("audit_verify", organization=org.slug, stdout=io.StringIO())


def test_intact_chain_verifies(world):
    key = _chain_of(world.a.org)
    assert verify_chain(key).ok
    call_command("audit_verify", stdout=io.StringIO())


def test_edited_row_is_detected(world):
    key = _chain_of(world.a.org)
    target = AuditEntry.objects.filter(chain=key).order_by("sequence")[1]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_auditentry SET actor_label = %s WHERE id = %s",
            ["someone-else", target.pk],
        )
    report = verify_chain(key)
    assert any("was edited" in p for p in report.problems)
    _verify_fails(world.a.org)


def test_edited_changes_json_is_detected(world):
    key = _chain_of(world.a.org)
    target = AuditEntry.objects.filter(chain=key).order_by("sequence")[0]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_auditentry SET changes = %s WHERE id = %s", ['{"i": 99}', target.pk]
        )
    assert not verify_chain(key).ok


def test_deleted_row_is_detected(world):
    key = _chain_of(world.a.org)
    target = AuditEntry.objects.filter(chain=key).order_by("sequence")[1]
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditentry WHERE id = %s", [target.pk])
    report = verify_chain(key)
    assert not report.ok
    assert any("missing" in p or "does not follow" in p for p in report.problems)
    _verify_fails(world.a.org)


def test_deleted_last_row_is_detected(world):
    key = _chain_of(world.a.org)
    last = AuditEntry.objects.filter(chain=key).order_by("-sequence").first()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditentry WHERE id = %s", [last.pk])
    assert any("chain head" in p for p in verify_chain(key).problems)


def test_inserted_row_is_detected(world):
    key = _chain_of(world.a.org)
    second = AuditEntry.objects.filter(chain=key).order_by("sequence")[1]
    # A forger copies a row, gives it a plausible place in the chain and a self-consistent hash.
    forged = AuditEntry(
        chain=key,
        sequence=second.sequence,
        organization=world.a.org,
        created_at=second.created_at,
        actor_label="forger",
        action="test.forged",
        changes={},
        prev_hash=second.prev_hash,
    )
    forged.entry_hash = forged.compute_hash()
    with connection.cursor() as cursor:
        # Shift the tail up by one (in two steps: the (chain, sequence) constraint is immediate).
        cursor.execute(
            "UPDATE audit_auditentry SET sequence = sequence + 1000000 "
            "WHERE chain = %s AND sequence >= %s",
            [key, second.sequence],
        )
        cursor.execute(
            "UPDATE audit_auditentry SET sequence = sequence - 999999 "
            "WHERE chain = %s AND sequence >= 1000000",
            [key],
        )
        cursor.execute(
            "INSERT INTO audit_auditentry (chain, sequence, organization_id, created_at, "
            "actor_label, action, object_type, object_id, object_repr, changes, user_agent, "
            "request_id, channel, prev_hash, entry_hash) VALUES "
            "(%s, %s, %s, %s, %s, %s, '', '', '', '{}', '', '', '', %s, %s)",
            [
                key,
                forged.sequence,
                world.a.org.pk,
                forged.created_at,
                forged.actor_label,
                forged.action,
                forged.prev_hash,
                forged.entry_hash,
            ],
        )
    assert not verify_chain(key).ok
    _verify_fails(world.a.org)


def test_entries_refuse_update_and_delete_through_the_orm(world):
    entry = record_audit("test.x", actor="test", organization=world.a.org)
    with pytest.raises(TypeError):
        entry.save()
    with pytest.raises(TypeError):
        entry.delete()
    with pytest.raises(TypeError):
        AuditEntry.objects.filter(pk=entry.pk).update(action="y")
    with pytest.raises(TypeError):
        AuditEntry.objects.filter(pk=entry.pk).delete()


def test_chains_are_per_organization(world):
    _chain_of(world.a.org, 2)
    _chain_of(world.b.org, 3)
    assert AuditChain.objects.get(key=str(world.a.org.pk)).last_sequence >= 2
    assert (
        AuditEntry.objects.filter(chain=str(world.b.org.pk), action__startswith="test.").count()
        == 3
    )


def _signed_in_client(user):
    user.set_password(PASSWORD)
    user.save()
    client = Client()
    response = client.post(
        "/account/sign-in/",
        {"username": user.username, "password": PASSWORD},
        REMOTE_ADDR="10.1.2.3",
    )
    assert response.status_code == 302
    return client


def test_sign_in_and_failed_sign_in_are_audited(world):
    user = world.a.user(Role.OPERATOR)
    _signed_in_client(user)
    entry = AuditEntry.objects.filter(action="auth.sign_in", organization=world.a.org).get()
    assert entry.actor == user
    assert entry.ip == "10.1.2.3"
    Client().post("/account/sign-in/", {"username": user.username, "password": "wrong"})
    failed = AuditEntry.objects.get(action="auth.sign_in_failed", chain="platform")
    assert failed.changes == {
        "username": user.username,
        "method": "password",
        "reason": "username and password did not match",
        "locked_out": False,
    }
    # The user's organization sees the attempt on its own chain too.
    assert AuditEntry.objects.filter(action="auth.sign_in_failed", organization=world.a.org)
    assert "wrong" not in str(failed.changes)


def test_permission_change_is_audited(world):
    admin = world.a.user(Role.ADMIN)
    other = make_user()
    added, removed = set_object_roles(world.a.sites[1], other, ["role_technician"], actor=admin)
    assert added == ["role_technician"] and removed == []
    set_object_roles(world.a.sites[1], other, [], actor=admin)
    entries = AuditEntry.objects.filter(action="tenancy.permission.change").order_by("sequence")
    assert [e.changes["granted"] for e in entries] == [["role_technician"], []]
    assert [e.changes["revoked"] for e in entries] == [[], ["role_technician"]]
    assert all(e.organization == world.a.org for e in entries)


def test_permission_change_refused_to_non_admins_and_other_tenants(world):
    other = make_user()
    group = Group.objects.create(name="night shift")
    for actor in (world.a.user(Role.SECURITY_OFFICER), world.b.user(Role.ADMIN)):
        with pytest.raises(Exception, match="may not"):
            set_object_roles(world.a.org, other, ["role_admin"], actor=actor)
        with pytest.raises(Exception, match="may not"):
            set_object_roles(world.a.sites[0], group, ["role_operator"], actor=actor)
    assert not AuditEntry.objects.filter(action="tenancy.permission.change").exists()


def test_api_write_update_and_delete_are_audited_with_before_after(world):
    client = APIClient()
    client.force_authenticate(world.a.user(Role.ADMIN))
    site = world.a.sites[1]
    assert (
        client.patch(f"/api/v1/sites/{site.pk}/", {"name": "Moved"}, format="json").status_code
        == 200
    )
    update = AuditEntry.objects.get(action="tenancy.site.update", object_id=str(site.pk))
    assert update.changes["name"] == ["A site 2", "Moved"]
    assert client.delete(f"/api/v1/sites/{site.pk}/").status_code == 204
    delete = AuditEntry.objects.get(action="tenancy.site.delete", object_id=str(site.pk))
    assert delete.changes["before"]["name"] == "Moved"
    assert not Site.objects.filter(pk=site.pk).exists()


@pytest.mark.parametrize("role", [Role.ADMIN, Role.SECURITY_OFFICER, Role.AUDITOR])
def test_export_is_audited_and_scoped(world, role):
    record_audit("test.mine", actor="test", organization=world.a.org)
    record_audit("test.theirs", actor="test", organization=world.b.org)
    client = APIClient()
    client.force_authenticate(world.a.user(role))
    response = client.get(
        "/api/v1/audit-entries/export/", {"organization": world.a.org.pk, "as": "csv"}
    )
    assert response.status_code == 200, response.content
    body = response.content.decode()
    assert "test.mine" in body and "test.theirs" not in body
    assert AuditEntry.objects.filter(action="audit.export", organization=world.a.org).exists()
    refused = client.get("/api/v1/audit-entries/export/", {"organization": world.b.org.pk})
    assert refused.status_code == 400
    assert not AuditEntry.objects.filter(action="audit.export", organization=world.b.org).exists()


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.TECHNICIAN])
def test_export_refused_to_roles_without_audit_access(world, role):
    client = APIClient()
    client.force_authenticate(world.a.user(role))
    response = client.get("/api/v1/audit-entries/export/", {"organization": world.a.org.pk})
    assert response.status_code == 403
    assert not AuditEntry.objects.filter(action="audit.export").exists()


def test_json_export(world):
    record_audit("test.mine", actor="test", organization=world.a.org)
    client = APIClient()
    client.force_authenticate(world.a.user(Role.AUDITOR))
    response = client.get(
        "/api/v1/audit-entries/export/", {"organization": world.a.org.pk, "as": "json"}
    )
    assert response.status_code == 200
    assert any(row["action"] == "test.mine" for row in response.json())
