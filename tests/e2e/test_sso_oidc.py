"""Single sign-on in a real browser through a real OpenID Connect provider process
(oidc-provider-mock on loopback): the Admin configures it in the web UI; first sign-in creates
the member with the mapped role; a changed group changes the role; a removed group removes
access; SSO-required refuses a local password; the break-glass Admin still gets in."""

import uuid

import pytest

from encompass.sso.models import SsoIdentity
from encompass.tenancy.models import Membership
from encompass.testing.factories import make_member, make_org
from encompass.testing.oidc import OidcProvider

from .conftest import screenshot, sign_in

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery-staple-42"


@pytest.fixture(scope="module")
def idp(tmp_path_factory):
    with OidcProvider(tmp_path_factory.mktemp("oidc")) as provider:
        yield provider


def sso_sign_in(tab, live_server_url, slug, sub):
    tab.goto(f"{live_server_url}/account/sign-in/")
    tab.fill("#id_sso_organization", slug)
    with tab.expect_navigation():
        tab.click("#sso-form button[type=submit]")
    # The provider's own authorization page (another origin, another process).
    tab.fill("input[name=sub]", sub)
    with tab.expect_navigation(url=f"{live_server_url}/**"):
        tab.click("button:has-text('Authorize')")
    tab.wait_for_load_state()
    return tab


def test_sso_sign_in_mapping_and_sso_required(page, live_server_url, idp):
    org = make_org(name="Acme Utilities", slug="acme")
    admin = make_member(org, "admin", username="acme-admin", password=PASSWORD)
    operator = make_member(org, "operator", username="acme-operator", password=PASSWORD)
    sign_in(page, live_server_url, admin, PASSWORD)

    # The Admin configures the provider in the web UI.
    page.goto(f"{live_server_url}/organization/single-sign-on/")
    assert "/account/sso/callback/" in page.inner_text("#sso-callback")
    page.fill("#id_issuer", idp.issuer)
    page.fill("#id_client_id", "encompass-acme")
    page.fill("#id_client_secret", "acme-client-secret")
    page.fill("#id_mappings", "fleet-admins = admin\nfleet-ops = operator\nauditors = auditor")
    with page.expect_navigation():
        page.click("#sso-settings button[type=submit]")
    assert "Single sign-on settings saved." in page.inner_text(".messages")
    screenshot(page, "sso-settings-1366")
    page.set_viewport_size({"width": 400, "height": 900})
    screenshot(page, "sso-settings-400")

    sub = f"carol-{uuid.uuid4().hex[:6]}"
    idp.set_user(sub, {"groups": ["auditors"], "preferred_username": "carol"})
    browser = page.context.browser

    def new_tab():
        context = browser.new_context(viewport={"width": 1366, "height": 800})
        context.set_default_timeout(15_000)
        return context, context.new_page()

    # First sign-in: the user and the membership with the mapped role.
    context, tab = new_tab()
    sso_sign_in(tab, live_server_url, "acme", sub)
    assert tab.url.startswith(live_server_url) and "/account/" not in tab.url, tab.url
    screenshot(tab, "sso-first-sign-in")
    user = SsoIdentity.objects.get(subject=sub).user
    assert user.username == "carol@acme"
    assert Membership.objects.get(organization=org, user=user).role == "auditor"
    context.close()

    # A changed group changes the role at the next sign-in.
    idp.set_user(sub, {"groups": ["fleet-ops"], "preferred_username": "carol"})
    context, tab = new_tab()
    sso_sign_in(tab, live_server_url, "acme", sub)
    assert Membership.objects.get(organization=org, user=user).role == "operator"
    tab.goto(f"{live_server_url}/devices/")
    assert "/devices/" in tab.url
    context.close()

    # A removed group removes access: no membership, refused at the sign-in page.
    idp.set_user(sub, {"groups": [], "preferred_username": "carol"})
    context, tab = new_tab()
    sso_sign_in(tab, live_server_url, "acme", sub)
    assert "/account/sign-in/" in tab.url
    assert "gives you no role in Acme Utilities" in tab.inner_text(".messages")
    screenshot(tab, "sso-no-role")
    assert not Membership.objects.filter(user=user).exists()
    context.close()

    # SSO required, with the Admin as break-glass (it has its TOTP from signing in above).
    page.set_viewport_size({"width": 1366, "height": 800})
    page.goto(f"{live_server_url}/organization/single-sign-on/")
    page.check("#id_require_sso")
    page.fill("#id_break_glass", "acme-admin")
    with page.expect_navigation():
        page.click("#sso-settings button[type=submit]")
    assert "Single sign-on settings saved." in page.inner_text(".messages")

    context, tab = new_tab()
    tab.goto(f"{live_server_url}/account/sign-in/")
    tab.fill("#id_username", operator.username)
    tab.fill("#id_password", PASSWORD)
    with tab.expect_navigation():
        tab.click("form:has(#id_username) button[type=submit]")
    assert "/account/sign-in/" in tab.url
    assert "requires single sign-on" in tab.inner_text("#sso-required")
    screenshot(tab, "sso-required-refuses-password")
    context.close()

    context, tab = new_tab()
    sign_in(tab, live_server_url, admin, PASSWORD, next_path="/devices/")
    assert "/devices/" in tab.url
    context.close()
