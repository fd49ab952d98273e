"""The live dashboard in a real browser: events posted through the device API while the page is
open change the feed, the counts and the open alerts without a reload."""

import time

import httpx
import pytest
from django.utils import timezone

from devices.choices import LifecycleState
from devices.monitoring.choices import RuleKind
from devices.monitoring.models import AlertRule
from devices.services import rotate_device_token
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device

from .conftest import screenshot, sign_in, watch_csp

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery-staple-42"


def _post(url, token, items):
    response = httpx.post(
        f"{url}/api/device/v1/events",
        json=items,
        headers={"Authorization": f"Device {token}"},
        timeout=20,
    )
    assert response.status_code == 200, response.text
    return response.json()


def _telemetry(n, value):
    return {
        "id": f"dash-{n}",
        "kind": "telemetry",
        "occurred_at": timezone.now().isoformat(),
        "payload": {"metrics": {"temp_c": value, "humidity_pct": 40 + n % 7}},
    }


def test_dashboard_updates_live(page, live_server_url, world):
    operator = world.a.user(Role.OPERATOR)
    operator.set_password(PASSWORD)
    operator.save(update_fields=["password"])
    AlertRule.objects.create(
        organization=world.a.org,
        name="Too hot",
        kind=RuleKind.THRESHOLD,
        metric="temp_c",
        comparison="gt",
        threshold=60,
        severity="high",
    )
    devices = []
    for n in range(3):
        device = make_device(
            world.a.org, site=world.a.sites[0], state=LifecycleState.DEPLOYED, name=f"pump-{n + 1}"
        )
        devices.append(rotate_device_token(device, actor=world.a.user(Role.ADMIN)))

    sign_in(page, live_server_url, operator, PASSWORD)
    page.goto(f"{live_server_url}/monitoring/")
    page.wait_for_selector("#live-status.live-ok", timeout=15000)
    online = page.locator('[data-count="health:online"]')
    assert online.inner_text() == "0"
    assert page.locator('[data-count="health:unknown"]').inner_text() == "3"

    for step in range(6):
        for i, (_device, token) in enumerate(devices):
            _post(
                live_server_url,
                token,
                [
                    _telemetry(step * 10 + i, 21 + i + step * 0.4),
                    {
                        "id": f"hb-{step}-{i}",
                        "kind": "heartbeat",
                        "occurred_at": timezone.now().isoformat(),
                        "payload": {"firmware_version": "1.4.2"},
                    },
                ],
            )
        time.sleep(0.2)
    _post(
        live_server_url,
        devices[0][1],
        [
            _telemetry(99, 75.5),
            {
                "id": "sec-1",
                "kind": "security",
                "occurred_at": timezone.now().isoformat(),
                "payload": {"signal": "port_scan", "detail": "22/tcp from 10.0.0.9"},
            },
        ],
    )

    page.wait_for_function(
        "() => document.querySelector('[data-count=\"health:online\"]').textContent === '3'",
        timeout=15000,
    )
    assert page.locator('[data-count="health:unknown"]').inner_text() == "0"
    # The feed shows rows at a readable pace (4 a second), so a burst takes a few seconds.
    page.wait_for_function(
        "() => document.querySelectorAll('#event-feed tr').length >= 20", timeout=30000
    )
    page.wait_for_selector("#event-feed >> text=port_scan", timeout=30000)
    feed = page.locator("#event-feed").inner_text()
    assert "device.telemetry" in feed and "device.security" in feed and "port_scan" in feed
    assert "pump-1" in feed and "pump-3" in feed  # devices by name, their uid in the link title
    page.wait_for_selector("#open-alerts >> text=temp_c = 75.5", timeout=15000)
    assert page.locator("#alert-count").inner_text() == "1"
    assert "×1 · open" in page.locator("#open-alerts").inner_text()
    # an Operator may not escalate and no alert has an incident: no empty Incident column
    assert not page.locator("th", has_text="Incident").is_visible()
    screenshot(page, "dashboard")

    # A Security officer may escalate: the column is there, with the button.
    officer = world.a.user(Role.SECURITY_OFFICER)
    officer.set_password(PASSWORD)
    officer.save(update_fields=["password"])
    officer_context = page.context.browser.new_context(base_url=live_server_url)
    violations, watch = watch_csp(officer_context)
    officer_page = officer_context.new_page()
    watch(officer_page)
    try:
        sign_in(officer_page, live_server_url, officer, PASSWORD, next_path="/monitoring/")
        officer_page.goto(f"{live_server_url}/monitoring/")
        escalate = officer_page.locator("#open-alerts button", has_text="Escalate")
        escalate.wait_for(timeout=15000)
        assert officer_page.locator("th", has_text="Incident").is_visible()
        # "Escalate" on one line, not broken inside the word (measured in one evaluation: the
        # live table may be redrawn between two calls)
        height = officer_page.evaluate(
            "() => document.querySelector('#open-alerts button').getBoundingClientRect().height"
        )
        assert 0 < height < 40, height
        screenshot(officer_page, "dashboard-officer")
    finally:
        officer_page.context.close()
    assert not violations, violations

    # The socket drops; what is stored while it is down arrives after the reconnect (replayed
    # from the last event id the page saw), once, and the page goes live again.
    page.evaluate(
        """() => {
        const live = EncompassLive.shared();
        const connect = live.connect;
        live.connect = function () { window.reconnectLive = () => connect.call(live); };
        live.socket.close();
    }"""
    )
    page.wait_for_selector("#live-status.live-wait", timeout=15000)
    _post(live_server_url, devices[2][1], [_telemetry(300, 33.3)])
    page.wait_for_function("() => typeof window.reconnectLive === 'function'", timeout=15000)
    page.evaluate("() => window.reconnectLive()")
    page.wait_for_selector("#live-status.live-ok", timeout=15000)
    page.wait_for_selector("#event-feed >> text=temp_c=33.3", timeout=15000)
    assert page.locator("#event-feed tr", has_text="temp_c=33.3").count() == 1

    # the device page draws the telemetry as a chart and keeps it live
    page.goto(f"{live_server_url}/monitoring/devices/{devices[1][0].pk}/")
    page.wait_for_selector("#live-status.live-ok", timeout=15000)
    page.wait_for_selector("canvas.time-chart", timeout=15000)
    page.wait_for_function("() => window.deviceChart && window.deviceChart.points('temp_c') > 0")
    before = page.evaluate("() => window.deviceChart.points('temp_c')")
    _post(live_server_url, devices[1][1], [_telemetry(200, 30.5)])
    page.wait_for_function(
        f"() => window.deviceChart.points('temp_c') > {before}",
        timeout=15000,
    )
    # its event list says what each event is about, not raw JSON
    page.wait_for_selector("#device-events >> text=temp_c=30.5", timeout=15000)
    assert "firmware 1.4.2" in page.locator("#device-events").inner_text()
    screenshot(page, "device-telemetry")
