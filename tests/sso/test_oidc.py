"""Sign-in through a real OpenID Connect provider process (oidc-provider-mock on loopback),
with Django's test client as the browser: the mapping, its re-evaluation, the bound on
sessions and API keys, SSO-required, and the tenant boundary."""

import uuid
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from encompass.audit.models import AuditEntry
from encompass.exceptions import NotPermitted, ValidationError
from encompass.sso import providers, services
from encompass.sso.models import SsoIdentity
from encompass.tenancy.models import Membership
from encompass.testing.factories import make_member, make_org, make_site
from encompass.testing.web import web

pytestmark = pytest.mark.django_db


def _configure(org, idp, admin, **extra):
    options = {
        "issuer": idp.issuer,
        "client_id": f"encompass-{org.slug}",
        "client_secret": "s3cret-" + org.slug,
        "mappings": "fleet-admins = admin\nfleet-ops = operator\nauditors = auditor",
    }
    options.update(extra)
    return providers.configure_identity_provider(org, actor=admin, **options)


def _sub():
    return f"user-{uuid.uuid4().hex[:10]}"


def sso_sign_in(client, idp, slug, sub):
    """Start at /account/sso/<slug>/, answer the provider's page as ``sub``, follow back."""
    start = client.get(f"/account/sso/{slug}/")
    assert start.status_code == 302, start
    location = start["Location"]
    assert location.startswith(idp.issuer), location
    back = urlsplit(idp.authorize(location, sub))
    assert back.path == "/account/sso/callback/"
    return client.get(f"{back.path}?{back.query}")


@pytest.fixture
def acme(db):
    org = make_org(name="Acme", slug="acme")
    admin = make_member(org, "admin", username="acme-admin", password="pw-acme-admin-1")
    return org, admin


def test_first_sign_in_creates_the_user_and_the_mapped_membership(idp, acme):
    org, admin = acme
    _configure(org, idp, admin)
    sub = _sub()
    idp.set_user(sub, {"groups": ["fleet-ops"], "preferred_username": "alice", "email": "a@x"})
    client = Client()
    response = sso_sign_in(client, idp, "acme", sub)
    assert response.status_code == 302 and response["Location"] == "/"
    identity = SsoIdentity.objects.get(subject=sub)
    assert identity.user.username == "alice@acme"
    assert not identity.user.has_usable_password()
    membership = Membership.objects.get(organization=org, user=identity.user)
    assert membership.role == "operator"
    assert client.get("/devices/").status_code == 200
    actions = set(AuditEntry.objects.filter(organization=org).values_list("action", flat=True))
    assert {"sso.sign_in", "tenancy.membership.create", "sso.provider.create"} <= actions
    # The client secret is stored encrypted, never in clear.
    provider = identity.provider
    assert b"s3cret-acme" not in bytes(provider.client_secret_encrypted)
    assert providers.client_secret_of(provider) == "s3cret-acme"


def test_a_changed_group_changes_the_role_and_a_removed_group_removes_access(idp, acme):
    org, admin = acme
    _configure(org, idp, admin)
    sub = _sub()
    idp.set_user(sub, {"groups": ["auditors"]})
    sso_sign_in(Client(), idp, "acme", sub)
    user = SsoIdentity.objects.get(subject=sub).user
    assert Membership.objects.get(organization=org, user=user).role == "auditor"

    idp.set_user(sub, {"groups": ["auditors", "fleet-ops"]})
    sso_sign_in(Client(), idp, "acme", sub)
    assert Membership.objects.get(organization=org, user=user).role == "operator"

    idp.set_user(sub, {"groups": ["somebody-else"]})
    client = Client()
    response = sso_sign_in(client, idp, "acme", sub)
    assert response["Location"] == "/account/sign-in/"
    assert not Membership.objects.filter(user=user).exists()
    assert "_auth_user_id" not in client.session
    assert AuditEntry.objects.filter(organization=org, action="sso.sign_in_refused").exists()


def test_site_narrowing_from_the_mapping(idp, acme):
    org, admin = acme
    make_site(org, slug="north"), make_site(org, slug="south")
    _configure(
        org, idp, admin, mappings="north-techs = technician north\nsouth-techs = technician south"
    )
    sub = _sub()
    idp.set_user(sub, {"groups": ["north-techs", "south-techs"]})
    sso_sign_in(Client(), idp, "acme", sub)
    membership = Membership.objects.get(organization=org, user__sso_identity__subject=sub)
    assert membership.role == "technician"
    assert {s.slug for s in membership.sites.all()} == {"north", "south"}
    idp.set_user(sub, {"groups": ["south-techs"]})
    sso_sign_in(Client(), idp, "acme", sub)
    assert [s.slug for s in membership.sites.all()] == ["south"]


def test_session_and_api_keys_end_within_the_bound_when_the_group_is_removed(idp, acme, settings):
    org, admin = acme
    _configure(org, idp, admin)
    sub = _sub()
    idp.set_user(sub, {"groups": ["fleet-admins"], "amr": ["pwd", "mfa"]})
    client = Client()
    sso_sign_in(client, idp, "acme", sub)
    identity = SsoIdentity.objects.get(subject=sub)
    user = identity.user
    # The provider said "mfa": no TOTP page for this Admin.
    assert client.get("/devices/").status_code == 200
    key, _ = services.tenancy_services.create_api_key(
        organization=org, name="ci", role="operator", actor=user
    )
    # Within the bound the session is not re-checked; past it, it is asked again.
    idp.set_user(sub, {"groups": ["fleet-ops"]})
    session = client.session
    session["encompass_sso"]["validated"] -= settings.ENCOMPASS["SSO_REVALIDATE_MINUTES"] * 60 + 1
    session.save()
    SsoIdentity.objects.filter(pk=identity.pk).update(
        validated_at=timezone.now() - timezone.timedelta(hours=1)
    )
    assert client.get("/devices/").status_code == 200
    assert Membership.objects.get(user=user).role == "operator"
    key.refresh_from_db()
    assert key.revoked_at is not None and "no longer grants Admin" in key.revoked_reason

    # Removed from every group: the next re-check (here the worker's) removes the membership,
    # and the session ends at its next request past the bound.
    idp.set_user(sub, {"groups": []})
    SsoIdentity.objects.filter(pk=identity.pk).update(
        validated_at=timezone.now() - timezone.timedelta(hours=1)
    )
    from encompass.sso.tasks import revalidate_identities_job

    counts = revalidate_identities_job()
    assert counts["removed"] >= 1
    assert not Membership.objects.filter(user=user).exists()
    session = client.session
    session["encompass_sso"]["validated"] -= settings.ENCOMPASS["SSO_REVALIDATE_MINUTES"] * 60 + 1
    session.save()
    response = client.get("/devices/")
    assert response.status_code == 302 and response["Location"].startswith("/account/sign-in/")
    assert "_auth_user_id" not in client.session


def test_revoked_tokens_at_the_provider_end_access(idp, acme):
    org, admin = acme
    _configure(org, idp, admin)
    sub = _sub()
    idp.set_user(sub, {"groups": ["fleet-ops"]})
    sso_sign_in(Client(), idp, "acme", sub)
    identity = SsoIdentity.objects.get(subject=sub)
    idp.revoke_tokens(sub)
    assert services.revalidate(identity) is False
    identity.refresh_from_db()
    assert identity.lapsed_at is not None
    assert not Membership.objects.filter(user=identity.user).exists()


def test_without_mfa_claim_a_privileged_role_still_needs_totp(idp, acme):
    org, admin = acme
    _configure(org, idp, admin)
    sub = _sub()
    idp.set_user(sub, {"groups": ["fleet-admins"], "amr": ["pwd"]})
    client = Client()
    sso_sign_in(client, idp, "acme", sub)
    response = client.get("/devices/")
    assert response.status_code == 302 and response["Location"].startswith("/account/two-factor/")


def test_sso_required_refuses_passwords_but_not_the_break_glass_admin(idp, acme):
    org, admin = acme
    operator = make_member(org, "operator", username="acme-op", password="pw-acme-op-1")
    with pytest.raises(ValidationError) as refused:
        _configure(org, idp, admin, require_sso=True)
    assert "break_glass" in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        _configure(org, idp, admin, require_sso=True, break_glass=["acme-admin"])
    assert "authenticator" in str(refused.value.message_dict["break_glass"])
    web(admin)  # gives the Admin a confirmed TOTP device
    _configure(org, idp, admin, require_sso=True, break_glass=["acme-admin"])

    response = Client().post(
        "/account/sign-in/", {"username": "acme-op", "password": "pw-acme-op-1"}
    )
    assert response.status_code == 200
    assert "requires single sign-on" in response.content.decode()
    assert AuditEntry.objects.filter(
        organization=org, action="auth.sign_in_failed", changes__reason="single sign-on required"
    ).exists()
    client = Client()
    response = client.post(
        "/account/sign-in/", {"username": "acme-admin", "password": "pw-acme-admin-1"}
    )
    assert response.status_code == 302
    assert client.get("/devices/")["Location"].startswith("/account/two-factor/")
    assert operator.pk  # still a member; only the password way in is closed


def test_one_organizations_provider_never_grants_anything_in_another(idp, acme):
    org, admin = acme
    other = make_org(name="Beta", slug="beta")
    beta_admin = make_member(other, "admin", username="beta-admin")
    beta_member = make_member(other, "operator", username="bob")
    _configure(org, idp, admin, mappings="fleet-admins = admin\nbeta-ops = operator")
    # Acme's provider claims Bob's name and e-mail, and a group named like Beta's.
    sub = _sub()
    idp.set_user(
        sub,
        {
            "groups": ["fleet-admins", "beta-ops"],
            "preferred_username": "bob",
            "email": beta_member.email,
        },
    )
    before = set(Membership.objects.filter(organization=other).values_list("pk", "user", "role"))
    client = Client()
    sso_sign_in(client, idp, "acme", sub)
    user = SsoIdentity.objects.get(subject=sub).user
    assert user.pk != beta_member.pk and user.username == "bob@acme"
    assert (
        set(Membership.objects.filter(organization=other).values_list("pk", "user", "role"))
        == before
    )
    assert list(
        Membership.objects.filter(user=user).values_list("organization__slug", flat=True)
    ) == ["acme"]
    # A state started for Acme cannot be completed as Beta; Beta has no provider at all.
    assert client.get("/account/sso/beta/")["Location"] == "/account/sign-in/"
    # Beta's Admin cannot see or change Acme's provider settings: same 404 as nothing.
    assert web(beta_admin).get("/organization/single-sign-on/").status_code == 200
    assert "Acme" not in web(beta_admin).get("/organization/single-sign-on/").content.decode()
    with pytest.raises(NotPermitted):
        providers.configure_identity_provider(
            org, actor=beta_admin, issuer=idp.issuer, client_id="x", client_secret="y"
        )


def test_a_callback_not_started_here_is_refused(idp, acme):
    org, admin = acme
    _configure(org, idp, admin)
    sub = _sub()
    idp.set_user(sub, {"groups": ["fleet-ops"]})
    start = Client().get("/account/sso/acme/")
    back = urlsplit(idp.authorize(start["Location"], sub))
    # Another browser (no state in its session) presents the code: refused, nobody created.
    response = Client().get(f"{back.path}?{back.query}")
    assert response["Location"] == "/account/sign-in/"
    assert not SsoIdentity.objects.filter(subject=sub).exists()


def test_bad_settings_are_refused_and_change_nothing(idp, acme):
    org, admin = acme
    with pytest.raises(ValidationError) as error:
        _configure(org, idp, admin, issuer="http://idp.example.com")
    assert "https" in str(error.value.message_dict["issuer"])
    with pytest.raises(ValidationError) as error:
        _configure(org, idp, admin, mappings="fleet = overlord\nops = technician nowhere")
    messages = error.value.message_dict["mappings"]
    assert any("unknown role" in m for m in messages) and any("no site" in m for m in messages)
    with pytest.raises(ValidationError) as error:
        _configure(org, idp, admin, issuer=idp.issuer + "/other")
    assert "issuer" in error.value.message_dict
    from encompass.sso.models import IdentityProvider

    assert not IdentityProvider.objects.exists()
    operator = make_member(org, "operator")
    with pytest.raises(NotPermitted):
        _configure(org, idp, operator)
