"""Platform operator commands: create_organization, add_member, describe_roles, seed_demo."""

import io
import re
from pathlib import Path

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from encompass.audit.models import AuditEntry
from encompass.tenancy.management.commands.describe_roles import FOUNDATION_APPS, render_markdown
from encompass.tenancy.models import Membership, Organization, Site
from encompass.tenancy.roles import Role

pytestmark = pytest.mark.django_db
User = get_user_model()
ROOT = Path(__file__).resolve().parents[2]


def run(*args, **kwargs):
    out = io.StringIO()
    call_command(*args, stdout=out, **kwargs)
    return out.getvalue()


def test_create_organization_with_sites_and_admin():
    User.objects.create_user(username="founder", password=None)
    run(
        "create_organization",
        "--name",
        "Acme Water",
        "--slug",
        "acme",
        "--site",
        "north=North Plant",
        "--site",
        "south=South Plant",
        "--admin",
        "founder",
    )
    org = Organization.objects.get(slug="acme")
    assert sorted(Site.objects.filter(organization=org).values_list("slug", flat=True)) == [
        "north",
        "south",
    ]
    assert Membership.objects.get(organization=org).role == Role.ADMIN
    actions = set(AuditEntry.objects.filter(organization=org).values_list("action", flat=True))
    assert {
        "tenancy.organization.create",
        "tenancy.site.create",
        "tenancy.membership.create",
    } <= actions


def test_create_organization_bad_input_changes_nothing():
    with pytest.raises(CommandError, match="slug"):
        run("create_organization", "--name", "Bad", "--slug", "Not A Slug", "--site", "x=X")
    with pytest.raises(CommandError, match="SLUG=NAME"):
        run("create_organization", "--name", "Bad", "--slug", "bad", "--site", "nameless")
    with pytest.raises(CommandError, match="no user"):
        run("create_organization", "--name", "Bad", "--slug", "bad", "--admin", "ghost")
    assert not Organization.objects.exists()


def test_add_member_creates_user_with_generated_password(world):
    out = run(
        "add_member",
        "--organization",
        world.a.org.slug,
        "--username",
        "fieldtech",
        "--role",
        "technician",
        "--site",
        world.a.sites[0].slug,
        "--create",
        "--email",
        "ft@example.test",
    )
    password = re.search(
        r"Generated password \(shown once, not stored in clear\): (\S+)", out
    ).group(1)
    user = authenticate(username="fieldtech", password=password)
    assert user is not None
    assert user.password != password
    membership = Membership.objects.get(user=user)
    assert list(membership.sites.all()) == [world.a.sites[0]]
    assert AuditEntry.objects.filter(action="auth.user.create", organization=world.a.org).exists()


def test_add_member_refuses_bad_input(world):
    with pytest.raises(CommandError, match="no organization"):
        run("add_member", "--organization", "nope", "--username", "x", "--role", "admin")
    with pytest.raises(CommandError, match="no site"):
        run(
            "add_member",
            "--organization",
            world.a.org.slug,
            "--username",
            "a-operator",
            "--role",
            "operator",
            "--site",
            world.b.sites[0].slug,
        )
    with pytest.raises(CommandError, match="already a member"):
        run(
            "add_member",
            "--organization",
            world.a.org.slug,
            "--username",
            "a-operator",
            "--role",
            "admin",
        )
    with pytest.raises(CommandError, match="already exists"):
        run(
            "add_member",
            "--organization",
            world.b.org.slug,
            "--username",
            "a-operator",
            "--role",
            "admin",
            "--create",
        )


def test_docs_roles_md_matches_the_role_tables():
    """docs/roles.md carries the generated table; regenerate with describe_roles --foundation."""
    generated = render_markdown(FOUNDATION_APPS)
    assert generated == run("describe_roles", "--foundation")
    doc = (ROOT / "docs" / "roles.md").read_text()
    assert generated in doc, "docs/roles.md is stale: paste `manage.py describe_roles --foundation`"


def test_seed_demo_is_idempotent_with_generated_passwords(tmp_path):
    credentials = tmp_path / "creds.txt"
    out = run("seed_demo", "--credentials-file", str(credentials))
    assert credentials.stat().st_mode & 0o777 == 0o600
    pairs = re.findall(r"^\s+(\S+)\s+(\S+)\s{3}", credentials.read_text(), re.M)
    assert len(pairs) >= 12
    passwords = [p for _, p in pairs]
    assert len(set(passwords)) == len(passwords)
    for username, password in pairs[:2]:
        assert authenticate(username=username, password=password) is not None
    assert passwords[0] in out
    assert Organization.objects.count() == 2
    for role in Role.values:
        assert Membership.objects.filter(role=role).count() >= 2
    again = run("seed_demo")
    assert "already present" in again
    assert passwords[0] not in again
    assert Organization.objects.count() == 2
