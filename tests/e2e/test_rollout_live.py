"""The rollout page in a real browser: a device reports its update through the device API while
the page is open, and the wave table shows it without a reload (shared websocket client)."""

import httpx
import pytest
from django.db import transaction

from devices.firmware import services
from devices.firmware.services.manifests import current_offer
from devices.services import rotate_device_token
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device_type
from tests.firmware.conftest import approved, deployed_devices, register_vendor

from .conftest import outside_browser_loop, screenshot, sign_in

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery-staple-42"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    }


def _running_rollout(tenant):
    sensor = make_device_type(tenant.org, manufacturer="Acme", model="Meter-9")
    vendor = register_vendor(tenant)
    approved(tenant, vendor, [sensor], "1.0.0", 1)
    new = approved(tenant, vendor, [sensor], "1.1.0", 2)
    deployed_devices(tenant, sensor, 3)
    rollout = services.create_rollout(
        organization=tenant.org,
        release=new,
        device_type=sensor,
        name="Spring meters",
        actor=tenant.user(Role.OPERATOR),
        waves=[{"count": 1}, {"percent": 100}],
        failure_threshold=100,
        max_start_delay_seconds=0,
    )
    return services.start_rollout(rollout, actor=tenant.user(Role.OPERATOR))


def _offer(rollout, tenant):
    """The first wave's device: its token and the update offered to it."""
    with transaction.atomic():
        device = rollout.updates.select_related("device").get(wave__number=1).device
        update = current_offer(device)
    _device, token = rotate_device_token(device, actor=tenant.user(Role.ADMIN))
    return token, update.pk


def _report(url, token, update_id, status, reason=""):
    response = httpx.post(
        f"{url}/api/device/v1/update/status",
        json={"update_id": update_id, "status": status, "reason": reason},
        headers={"Authorization": f"Device {token}"},
        timeout=20,
    )
    assert response.status_code == 200, response.text


def _cell(page, column):
    """Wave 1's cell under the header ``column``."""
    headers = [h.strip() for h in page.locator("#waves thead th").all_text_contents()]
    return page.locator("#waves tbody tr[data-wave='1'] td").nth(headers.index(column))


def test_rollout_progress_moves_live(page, live_server_url, world):
    operator = world.a.user(Role.OPERATOR)
    operator.set_password(PASSWORD)
    operator.save(update_fields=["password"])
    rollout = outside_browser_loop(_running_rollout, world.a)
    token, update_id = outside_browser_loop(_offer, rollout, world.a)

    sign_in(
        page, live_server_url, operator, PASSWORD, next_path=f"/firmware/rollouts/{rollout.pk}/"
    )
    page.wait_for_selector("#live-state.on", timeout=10_000)
    assert _cell(page, "In progress").text_content().strip() == "1"
    assert _cell(page, "Failed").text_content().strip() == "0"
    page.evaluate("window.__notReloaded = true")

    _report(live_server_url, token, update_id, "downloading")
    _report(live_server_url, token, update_id, "failed", reason="flash write error")

    page.wait_for_function(
        "() => document.querySelector(\"#waves tr[data-wave='1'] td:nth-child(8)\")"
        ".textContent.trim() === '1'",
        timeout=10_000,
    )
    assert _cell(page, "Failed").text_content().strip() == "1"
    assert _cell(page, "In progress").text_content().strip() == "0"
    assert page.evaluate("window.__notReloaded") is True  # redrawn in place, not reloaded
    shot = screenshot(page, "rollout")
    assert shot.exists()
