"""An incident in a real browser: an alert escalated from the board, worked through every phase
(playbook, containment on a device, recorded containment, review) to closed; the board moves live
when another process changes an incident."""

import pytest

from devices.choices import LifecycleState
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device, make_device_type
from incidents.models import Incident
from incidents.services import declare_incident, load_shipped_playbooks

from .conftest import outside_browser_loop, screenshot, sign_in

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery-staple-42"


def _move(page, label, note=""):
    page.select_option(
        "select[name=to]",
        label=page.locator(f"select[name=to] option:has-text('{label}')").first.inner_text(),
    )
    if note:
        page.fill(".phase-form input[name=note]", note)
    with page.expect_navigation():
        page.click(".phase-form button[type=submit]")
    assert f"is now in {label.lower()}" in page.locator(".messages").inner_text()


def test_alert_to_closed_in_the_browser(page, live_server_url, world):
    from devices.monitoring.services import raise_alert

    officer = world.a.user(Role.SECURITY_OFFICER)
    officer.set_password(PASSWORD)
    officer.save(update_fields=["password"])
    load_shipped_playbooks(world.a.org, actor=officer)
    kind = make_device_type(world.a.org, supports_certificates=False, model="Gateway-7")
    device = make_device(
        world.a.org,
        site=world.a.sites[0],
        device_type=kind,
        state=LifecycleState.DEPLOYED,
        name="gw-harbour-01",
    )
    raise_alert(
        organization=world.a.org,
        kind="security.outbound_traffic",
        title="gw-harbour-01: outbound connections to 203.0.113.9:6667",
        severity="high",
        dedupe_key="e2e.botnet",
        device=device,
    )
    declare_incident(
        organization=world.a.org,
        title="Badge reader offline at gate 3",
        severity="low",
        category="other",
        actor=officer,
    )

    sign_in(page, live_server_url, officer, PASSWORD, next_path="/incidents/")
    assert page.locator("nav.sidebar a:has-text('Incidents')").is_visible()
    page.wait_for_selector("#live-state.on", timeout=10000)

    # Escalate the alert from the board into a new incident.
    page.check("#escalate-form input[name=alerts]")
    page.select_option("#escalate-form select[name=category]", "denial_of_service")
    with page.expect_navigation():
        page.click("#escalate-form button[type=submit]")
    assert "Escalated 1 alert(s)" in page.locator(".messages").inner_text()
    incident = Incident.objects.get(source_alerts__dedupe_key="e2e.botnet")
    assert page.locator("#current-phase").inner_text() == "Detection"

    # Playbook, triage, containment on the device.
    page.select_option("select[name=playbook]", label="Botnet traffic from devices")
    with page.expect_navigation():
        page.click("form[action$='/playbook/'] button")
    assert page.locator("ul.tasks li").count() == incident.tasks.count() > 0
    with page.expect_navigation():
        page.locator("ul.tasks li button.task-box").first.click()
    assert page.locator("ul.tasks li.done").count() == 1
    _move(page, "Analysis")
    _move(page, "Containment")
    page.select_option(".contain-form select[name=kind]", "quarantine")
    page.fill(".contain-form input[name=reason]", "Beaconing to a C2 host")
    with page.expect_navigation():
        page.click(".contain-form button[type=submit]")
    device.refresh_from_db()
    assert device.state == LifecycleState.QUARANTINED
    assert "Quarantined gw-harbour-01" in page.locator("#timeline").inner_text()

    # Recovery is refused until containment is recorded.
    _move(page, "Eradication")
    page.select_option(
        "select[name=to]",
        index=page.locator("select[name=to] option")
        .all_inner_texts()
        .index(
            next(
                t
                for t in page.locator("select[name=to] option").all_inner_texts()
                if t.startswith("Recovery")
            )
        ),
    )
    with page.expect_navigation():
        page.click(".phase-form button[type=submit]")
    assert "containment is recorded" in page.locator(".messages").inner_text()
    page.fill("form[action$='/contained/'] input[name=note]", "Gateway isolated, C2 blocked")
    with page.expect_navigation():
        page.click("form[action$='/contained/'] button")
    _move(page, "Recovery")
    _move(page, "Lessons learned")

    # Review, then close.
    page.fill("textarea[name=what_happened]", "A gateway joined a botnet through telnet.")
    page.fill("textarea[name=root_cause]", "Telnet left enabled by the vendor image.")
    page.fill("textarea[name=what_worked]", "The alert rule and quarantine within minutes.")
    page.fill("textarea[name=what_to_change]", "Disable telnet in the golden image.")
    with page.expect_navigation():
        page.click(".review-form button[name=complete]")
    assert "Review completed" in page.locator(".messages").inner_text()
    _move(page, "Closed")
    incident.refresh_from_db()
    assert incident.phase == "closed" and incident.closed_at is not None
    screenshot(page, "incident-page-closed")

    # The report is printable and carries the timeline.
    report = page.context.new_page()
    report.goto(f"{live_server_url}/incidents/{incident.pk}/report/")
    assert "Incident report" in report.inner_text("h1")
    assert "Quarantined gw-harbour-01" in report.inner_text("body")
    report.close()

    # The board: the closed incident in its column; a change from another process shows live.
    page.goto(f"{live_server_url}/incidents/")
    page.wait_for_selector("#live-state.on", timeout=10000)
    closed_col = page.locator(".inc-closed[data-phase=closed]")
    assert incident.reference in closed_col.inner_text()
    outside_browser_loop(
        declare_incident,
        organization=world.a.org,
        title="Firmware signature failure on meters",
        severity="critical",
        category="malware",
        actor=officer,
    )
    page.wait_for_selector(
        ".inc-col[data-phase=detection] :text('Firmware signature failure')", timeout=10000
    )
    screenshot(page, "incident-board")
