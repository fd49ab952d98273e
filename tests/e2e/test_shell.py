"""The shell in a real browser, at 1,366 and 400 px: the navigation collapses behind a toggle on a
narrow screen and no page overflows sideways; wide tables scroll inside their card; the alert
list's filters, sorting and bulk acknowledge; the dashboard's charts and its pausable,
rate-limited feed; the compliance trend and the rollout chart drawn by Chart.js. Screenshots of
each screen at both widths go to tests/e2e/screenshots/ (git-ignored)."""

import datetime
import time

import httpx
import pytest
from django.utils import timezone

from compliance.models import Framework, ScoreSnapshot
from compliance.services import assessments
from compliance.services.loading import DATA_DIR, load_catalogue
from devices.choices import LifecycleState
from devices.firmware import services as firmware
from devices.monitoring.choices import AlertStatus
from devices.monitoring.models import Alert
from devices.monitoring.services import raise_alert
from devices.services import rotate_device_token
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device, make_device_type
from encompass.testing.firmware import approved, deployed_devices, register_vendor

from .conftest import screenshot, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PASSWORD = "correct-horse-battery-staple-42"
WIDE, NARROW = {"width": 1366, "height": 900}, {"width": 400, "height": 860}


def _password(user):
    user.set_password(PASSWORD)
    user.save(update_fields=["password"])
    return user


def _overflow(page):
    """How many CSS pixels the page is wider than the window (0: no sideways scrolling)."""
    return page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


def _both_widths(page, url, name):
    for size, label in ((WIDE, "1366"), (NARROW, "400")):
        page.set_viewport_size(size)
        page.goto(url)
        page.wait_for_load_state("networkidle")
        assert _overflow(page) <= 0, f"{url} overflows at {label} px by {_overflow(page)} px"
        screenshot(page, f"{name}-{label}")


def _fleet(world):
    device_type = make_device_type(world.a.org, manufacturer="Kamstrup", model="flowIQ 2200")
    devices = [
        make_device(
            world.a.org,
            site=world.a.sites[i % 2],
            device_type=device_type,
            name=f"Water meter harbour-{i:02d} with a rather long descriptive name",
            serial_number=f"KAM-2200-{i:08d}-LONGSERIAL",
            firmware_version="2.14.7-rc3+build.20260412",
        )
        for i in range(12)
    ]
    for i, device in enumerate(devices[:6]):
        raise_alert(
            organization=world.a.org,
            kind="metric.threshold",
            title=f"Flow above limit at meter {i}",
            severity=["low", "medium", "high", "critical"][i % 4],
            dedupe_key=f"flow:{i}",
            device=device,
            site=device.site,
        )
    return devices


def test_layout_at_1366_and_400_px(page, live_server_url, world):
    _fleet(world)
    admin = _password(world.a.user(Role.OPERATOR))
    page.set_viewport_size(WIDE)
    sign_in(page, live_server_url, admin, PASSWORD)

    # Wide: the sidebar is there, no toggle; the wide device table scrolls inside its card.
    page.goto(f"{live_server_url}/devices/")
    assert page.locator("#main-nav").is_visible()
    assert not page.locator(".nav-toggle").is_visible()
    assert _overflow(page) <= 0
    scroller = page.locator(".table-scroll").first
    assert scroller.evaluate("e => e.scrollWidth >= e.clientWidth")

    # Narrow: the navigation hides behind the toggle, which opens and closes it (no inline JS).
    page.set_viewport_size(NARROW)
    page.goto(f"{live_server_url}/devices/")
    toggle = page.locator(".nav-toggle")
    assert toggle.is_visible() and not page.locator("#main-nav").is_visible()
    toggle.click()
    assert page.locator("#main-nav").is_visible()
    assert toggle.get_attribute("aria-expanded") == "true"
    screenshot(page, "shell-nav-open-400")
    page.locator("#main-nav >> text=Alerts").click()
    page.wait_for_url("**/monitoring/alerts/")
    assert not page.locator("#main-nav").is_visible()

    for url, name in (
        ("/", "home"),
        ("/devices/", "devices"),
        ("/monitoring/alerts/", "alerts"),
        ("/monitoring/", "dashboard"),
        ("/firmware/releases/", "releases"),
        ("/identity/", "identity"),
    ):
        _both_widths(page, f"{live_server_url}{url}", f"shell-{name}")


def test_alerts_filter_sort_and_bulk_acknowledge(page, live_server_url, world):
    _fleet(world)
    operator = _password(world.a.user(Role.OPERATOR))
    page.set_viewport_size(WIDE)
    sign_in(page, live_server_url, operator, PASSWORD, next_path="/monitoring/alerts/")
    rows = page.locator("table.table tbody tr")
    assert rows.count() == 6

    # A bad value is named next to its field and nothing is listed.
    page.goto(f"{live_server_url}/monitoring/alerts/?site=999999")
    assert page.locator(".filter-field.invalid .field-error").is_visible()
    assert "nothing is listed" in page.locator(".filter-invalid").inner_text()

    # Filter by severity with the form.
    page.goto(f"{live_server_url}/monitoring/alerts/")
    page.select_option("#id_severity", ["critical", "high"])
    page.click(".filter-bar button[type=submit]")
    assert rows.count() == 2  # severities cycle low, medium, high, critical over 6 alerts
    screenshot(page, "alerts-filtered-1366")

    # Sort by title (the header link), then select all and acknowledge them at once.
    page.goto(f"{live_server_url}/monitoring/alerts/")
    with page.expect_navigation():
        page.click("th a.sort >> text=Alert")
    assert "sort=title" in page.url
    assert page.locator("th[aria-sort=ascending]").inner_text().strip().lower() == "alert"
    titles = page.locator("table.table tbody tr td:nth-child(3)").all_inner_texts()
    assert titles == sorted(titles)
    page.check("input[data-select-all]")
    assert page.locator("input[name=ids]:checked").count() == 6
    with page.expect_navigation():
        page.click("button[name=verb][value=acknowledge]")
    assert "Acknowledged 6 alerts" in page.locator(".messages").inner_text()
    assert Alert.objects.filter(status=AlertStatus.ACKNOWLEDGED).count() == 6
    screenshot(page, "alerts-bulk-1366")
    page.set_viewport_size(NARROW)
    page.reload()
    assert _overflow(page) <= 0
    screenshot(page, "alerts-bulk-400")


def test_auditor_is_offered_no_action(page, live_server_url, world):
    _fleet(world)
    auditor = _password(world.a.user(Role.AUDITOR))
    page.set_viewport_size(WIDE)
    sign_in(page, live_server_url, auditor, PASSWORD, next_path="/monitoring/alerts/")
    assert page.locator("table.table tbody tr").count() == 6
    for url in ("/monitoring/alerts/", "/devices/", "/firmware/releases/"):
        page.goto(f"{live_server_url}{url}")
        assert page.locator("main form[method=post]").count() == 0, url
        assert page.locator("main input[name=ids]").count() == 0, url
    screenshot(page, "auditor-alerts-1366")


def _post(base, token, items):
    response = httpx.post(
        f"{base}/api/device/v1/events", json=items, headers={"Authorization": f"Device {token}"}
    )
    assert response.status_code == 200, response.text


def test_dashboard_charts_and_a_feed_that_can_be_paused(page, live_server_url, world):
    device = make_device(
        world.a.org, site=world.a.sites[0], state=LifecycleState.DEPLOYED, name="pump-1"
    )
    device, token = rotate_device_token(device, actor=world.a.user(Role.ADMIN))
    operator = _password(world.a.user(Role.OPERATOR))
    page.set_viewport_size(WIDE)
    sign_in(page, live_server_url, operator, PASSWORD, next_path="/monitoring/")
    page.wait_for_selector("#live-status.live-ok")
    for canvas in ("#chart-events", "#chart-health", "#chart-alerts"):
        page.wait_for_function(f"() => !!Chart.getChart(document.querySelector('{canvas}'))")

    def item(n):
        return {
            "id": f"t-{n}",
            "kind": "telemetry",
            "occurred_at": timezone.now().isoformat(),
            "payload": {"metrics": {"temp_c": 20 + n / 10}},
        }

    # 40 events in one burst: the counter takes all of them at once, the rows come 4 a second.
    _post(live_server_url, token, [item(n) for n in range(40)])
    page.wait_for_function(
        "() => +document.getElementById('event-count').textContent >= 41"  # + health change
    )
    shown = page.locator("#event-feed tr").count()
    assert shown < 41
    page.wait_for_function("() => document.querySelectorAll('#event-feed tr').length >= 12")
    # Pause: the table holds still while the counter goes on.
    page.click("#feed-pause")
    held = page.locator("#event-feed tr").count()
    _post(live_server_url, token, [item(n) for n in range(40, 50)])
    page.wait_for_function("() => +document.getElementById('event-count').textContent >= 51")
    time.sleep(1.5)
    assert page.locator("#event-feed tr").count() == held
    assert "Paused" in page.locator("#feed-note").inner_text()
    # The chart counted every event of this minute, shown in the table or not.
    counted = page.evaluate(
        """() => Chart.getChart(document.getElementById('chart-events')).data.datasets
             .filter(d => d.label === 'device.telemetry')
             .reduce((n, d) => n + d.data.reduce((m, p) => m + p.y, 0), 0)"""
    )
    assert counted == 50
    screenshot(page, "dashboard-paused-1366")
    page.click("#feed-pause")
    page.wait_for_function(f"() => document.querySelectorAll('#event-feed tr').length > {held}")
    # Zoom by dragging on the events chart, then reset.
    box = page.locator("#chart-events").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.9, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    reset = page.locator("[data-chart]:has(#chart-events) .chart-reset")
    reset.wait_for(state="visible")
    reset.click()
    page.set_viewport_size(NARROW)
    page.reload()
    page.wait_for_selector("#live-status.live-ok")
    assert _overflow(page) <= 0
    screenshot(page, "dashboard-400")


def test_compliance_trend_and_rollout_chart(page, live_server_url, world, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    officer = _password(world.a.user(Role.SECURITY_OFFICER))
    if not Framework.objects.filter(code="etsi-en-303-645").exists():
        load_catalogue([DATA_DIR / "etsi-en-303-645.json"])
    assessment = assessments.create_assessment(
        world.a.org,
        framework=Framework.objects.get(code="etsi-en-303-645"),
        name="ETSI review",
        actor=officer,
        start=True,
    )
    now = timezone.now()
    for days, score in ((20, 31), (10, 48), (3, 62)):
        ScoreSnapshot.objects.create(
            organization=world.a.org,
            assessment=assessment,
            taken_at=now - datetime.timedelta(days=days),
            reason="daily",
            score=score,
        )
    sensor = make_device_type(world.a.org, manufacturer="Acme", model="Meter-9")
    release = approved(world.a, register_vendor(world.a), [sensor], "1.1.0", 2)
    deployed_devices(world.a, sensor, 3)
    rollout = firmware.create_rollout(
        organization=world.a.org,
        release=release,
        device_type=sensor,
        name="Spring",
        actor=world.a.user(Role.OPERATOR),
        waves=[{"count": 1}, {"percent": 100}],
    )
    rollout = firmware.start_rollout(rollout, actor=world.a.user(Role.OPERATOR))
    rollout.updates.update(offered_at=now)

    page.set_viewport_size(WIDE)
    sign_in(page, live_server_url, officer, PASSWORD, next_path="/compliance/")
    page.wait_for_function("() => !!Chart.getChart(document.getElementById('compliance-trend'))")
    labels = page.evaluate(
        "() => Chart.getChart(document.getElementById('compliance-trend')).data.datasets"
        ".map(d => [d.label, d.data.length])"
    )
    assert labels[0][0].endswith("ETSI review") and labels[0][1] >= 3
    ticks = page.evaluate(
        "() => Chart.getChart(document.getElementById('compliance-trend')).scales.x.ticks"
        ".map(t => t.label)"
    )
    assert any(str(now.year) in str(t) for t in ticks), ticks  # dates, not bare times
    _both_widths(page, f"{live_server_url}/compliance/", "compliance-trend")

    page.goto(f"{live_server_url}/firmware/rollouts/{rollout.pk}/")
    page.wait_for_function("() => !!Chart.getChart(document.getElementById('rollout-chart'))")
    offered = page.evaluate(
        "() => Chart.getChart(document.getElementById('rollout-chart')).data.datasets[0].data"
        ".map(p => p.y)"
    )
    assert offered[-1] == 3
    assert "2 waves, cumulative: 1 device, then all" in page.inner_text("main")
    _both_widths(page, f"{live_server_url}/firmware/rollouts/{rollout.pk}/", "rollout-chart")
