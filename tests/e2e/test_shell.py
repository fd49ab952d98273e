"""The web shell in a real browser: sign-in (with TOTP for privileged roles), navigation, the
organization switcher, and the admin."""

import pytest

from encompass.tenancy.roles import Role
from encompass.tenancy.services import add_membership

from .conftest import screenshot, sign_in

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery-staple-42"


def _with_password(user):
    user.set_password(PASSWORD)
    user.save(update_fields=["password"])
    return user


def test_operator_signs_in_sees_shell_and_switches_organization(page, live_server_url, world):
    operator = _with_password(world.a.user(Role.OPERATOR))
    add_membership(organization=world.b.org, user=operator, role=Role.AUDITOR, actor=None)

    sign_in(page, live_server_url, operator, PASSWORD)

    assert page.locator("header.topbar .brand").is_visible()
    assert page.locator("nav.sidebar").is_visible()
    options = page.locator("#org-select option").all_inner_texts()
    assert options == ["Tenant A", "Tenant B"]
    assert page.locator("#org-select option:checked").inner_text() == "Tenant A"
    screenshot(page, "shell-operator-home")

    with page.expect_navigation():
        page.select_option("#org-select", label="Tenant B")
    assert page.locator("#org-select option:checked").inner_text() == "Tenant B"
    assert "Now working in Tenant B" in page.locator(".messages").inner_text()
    screenshot(page, "shell-operator-switched")


def test_outsider_organization_never_offered(page, live_server_url, world):
    operator = _with_password(world.a.user(Role.OPERATOR))
    sign_in(page, live_server_url, operator, PASSWORD)
    assert page.locator("#org-select option").all_inner_texts() == ["Tenant A"]
    # Forcing the switch to another tenant's organization answers 404 and changes nothing.
    response = page.request.post(
        f"{live_server_url}/organization/switch/",
        form={"organization": str(world.b.org.pk)},
        headers={"X-CSRFToken": _csrf(page), "Referer": f"{live_server_url}/"},
    )
    assert response.status == 404
    page.reload()
    assert page.locator("#org-select option:checked").inner_text() == "Tenant A"


def _csrf(page):
    return next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")


def test_admin_signs_in_with_totp_and_reaches_admin(page, live_server_url, world):
    admin = _with_password(world.a.user(Role.ADMIN))
    sign_in(page, live_server_url, admin, PASSWORD)
    assert "/account/" not in page.url
    assert page.locator("header.topbar").is_visible()
    screenshot(page, "shell-admin-home")

    page.goto(f"{live_server_url}/admin/")
    assert "Encompass" in page.locator("#site-name").inner_text()
    assert page.get_by_role("link", name="Sites").first.is_visible()
    screenshot(page, "admin-index")

    page.goto(f"{live_server_url}/admin/tenancy/site/")
    rows = page.locator("#result_list tbody tr").all_inner_texts()
    assert any("A site 1" in row for row in rows)
    assert not any("B site" in row for row in rows)


def test_wrong_password_is_refused(page, live_server_url, world):
    operator = _with_password(world.a.user(Role.OPERATOR))
    page.goto(f"{live_server_url}/account/sign-in/")
    page.fill("#id_username", operator.username)
    page.fill("#id_password", "not-the-password")
    with page.expect_navigation():
        page.click("form:has(#id_username) button[type=submit]")
    assert "/account/sign-in/" in page.url
    assert "did not match" in page.locator("main").inner_text()
