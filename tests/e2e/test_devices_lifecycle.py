"""A device's life in a real browser: an operator walks it through lifecycle states on its page,
the timeline reads back in order, a refusal is shown, and the page is screenshotted."""

import pytest

from devices.choices import LifecycleState
from devices.models import Device
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device, make_device_type

from .conftest import screenshot, sign_in

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery-staple-42"


def _change_state(page, target_label, reason):
    form = page.locator("form[aria-label='Change state']")
    form.locator("select[name=to]").select_option(label=target_label)
    form.locator("textarea[name=reason]").fill(reason)
    with page.expect_navigation():
        form.locator("button[type=submit]").click()


def test_operator_walks_a_device_through_its_lifecycle(page, live_server_url, world):
    operator = world.a.user(Role.OPERATOR)
    operator.set_password(PASSWORD)
    operator.save(update_fields=["password"])
    device_type = make_device_type(
        world.a.org, manufacturer="Kamstrup", model="flowIQ 2200", supports_certificates=False
    )
    device = make_device(
        world.a.org, site=world.a.sites[0], device_type=device_type, name="Water meter harbour-01"
    )

    sign_in(page, live_server_url, operator, PASSWORD, next_path="/devices/")
    assert "Water meter harbour-01" in page.locator("table.table").inner_text()
    page.click("text=Water meter harbour-01")
    assert page.locator("h1").inner_text() == "Water meter harbour-01"

    steps = [
        ("Provisioned", "Configured at the depot"),
        ("Deployed", "Installed in the pit by the harbour gate"),
        ("Maintenance", "Replacing the battery pack"),
        ("Deployed", "Battery replaced, readings normal"),
    ]
    for label, reason in steps:
        _change_state(page, label, reason)
        assert "is now" in page.locator(".messages").inner_text()
        assert label in page.locator(".dev-head").inner_text()

    # The next actions name what the operator may not do (release is the security officer's).
    _change_state(page, "Quarantined", "Unexpected outbound traffic")
    options = page.locator("ul.options").inner_text()
    assert "Your role may not do this." in options

    timeline = page.locator("ol.timeline li").all_inner_texts()
    assert [t.splitlines()[0] for t in timeline] == [
        "Procured → Provisioned",
        "Provisioned → Deployed",
        "Deployed → Maintenance",
        "Maintenance → Deployed",
        "Deployed → Quarantined",
    ]
    assert all("by a-operator" in t for t in timeline)
    assert "Battery replaced, readings normal" in timeline[3]
    path = screenshot(page, "devices-detail-quarantined")
    assert path.exists() and path.stat().st_size > 10_000

    device.refresh_from_db()
    assert device.state == LifecycleState.QUARANTINED
    assert Device.objects.get(pk=device.pk).transitions.count() == 5
