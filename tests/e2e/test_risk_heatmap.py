"""The risk heat map in a real browser: inherent and residual grids side by side, counts per
cell coloured by the matrix, and a click on a cell filters the register."""

import pytest

from encompass.tenancy.roles import Role
from risk import services

from .conftest import outside_browser_loop, screenshot, sign_in

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery-staple-42"

# (title, inherent (likelihood, impact), residual or None)
REGISTER = [
    ("Gateway takeover through the web interface", (4, 5), (3, 4)),
    ("Camera botnet enrolment", (5, 3), (3, 3)),
    ("Setpoint tampering on controllers", (3, 5), (2, 4)),
    ("Firmware flashed through the service port", (2, 4), (1, 4)),
    ("Telemetry eavesdropping", (2, 3), (1, 3)),
    ("Sensors past end of support", (4, 3), None),
    ("Data left on disposed devices", (2, 2), (1, 2)),
    ("Radio jamming of meters", (2, 2), None),
    ("Leaked API key", (3, 4), (2, 3)),
    ("Vendor build compromise", (1, 5), None),
    ("Second gateway model exposed", (4, 5), (3, 4)),
]


def _populate(world):
    officer = world.a.user(Role.SECURITY_OFFICER)
    for title, (li, im), residual in REGISTER:
        risk = services.create_risk(
            actor=officer,
            organization=world.a.org,
            title=title,
            scenario=title,
            likelihood=li,
            impact=im,
        )
        if residual:
            services.assess_residual(
                risk, actor=officer, likelihood=residual[0], impact=residual[1]
            )
    services.create_risk(
        actor=world.b.user(Role.SECURITY_OFFICER),
        organization=world.b.org,
        title="Other tenant",
        scenario="x",
        likelihood=5,
        impact=5,
    )


def test_heatmap_shows_both_grids_and_filters_the_register(page, live_server_url, world):
    auditor = world.a.user(Role.AUDITOR)
    auditor.set_password(PASSWORD)
    auditor.save(update_fields=["password"])
    outside_browser_loop(_populate, world)

    sign_in(page, live_server_url, auditor, PASSWORD, next_path="/risk/heatmap/")
    assert page.locator("nav.sidebar a", has_text="Risk").is_visible()
    inherent = page.locator("#inherent .heatmap-cell")
    residual = page.locator("#residual .heatmap-cell")
    assert inherent.count() == 25 and residual.count() == 25

    def count(grid, likelihood, impact):
        cell = page.locator(
            f"#{grid} .heatmap-cell[data-likelihood='{likelihood}'][data-impact='{impact}']"
        )
        return int(cell.get_attribute("data-count"))

    assert count("inherent", 4, 5) == 2  # B's 5x5 risk is not counted
    assert count("inherent", 5, 5) == 0
    assert count("residual", 3, 4) == 2
    assert sum(int(c.get_attribute("data-count")) for c in inherent.all()) == len(REGISTER)
    # Critical cells are red and low cells green: the colours come from the matrix data.
    critical = page.locator("#inherent .heatmap-cell[data-likelihood='5'][data-impact='5']")
    low = page.locator("#inherent .heatmap-cell[data-likelihood='1'][data-impact='1']")
    assert critical.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(207, 34, 46)"
    assert low.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(45, 164, 78)"
    assert "3 not yet assessed" in page.locator("#residual").inner_text()
    screenshot(page, "risk-heatmap")

    with page.expect_navigation():
        page.locator("#inherent .heatmap-cell[data-likelihood='4'][data-impact='5']").click()
    rows = page.locator("table.risk-table tbody tr")
    assert rows.count() == 2
    assert "Gateway takeover" in rows.first.inner_text()
    assert "Other tenant" not in page.locator("main").inner_text()
