"""Every page that draws data-driven colours and widths (badges, bars, heat-map cells, the
lifecycle timeline, compliance results) and the Django admin pages with our own badges, opened
in a real browser at 1,366 px under the Content-Security-Policy, which allows no inline style
attribute: the ``page`` fixture fails the test on any violation a page reports. The colours must
still be applied (they come from ``data-css-*`` attributes, static/js/encompass.js).

``ENCOMPASS_E2E_SCREENSHOTS=1`` saves each page as tests/e2e/screenshots/csp-<name>.png."""

import os

import pytest

from compliance.models import Framework
from compliance.services import assessments
from compliance.services.loading import DATA_DIR, load_catalogue
from devices.choices import LifecycleState
from devices.models import Device
from devices.services import transition_device
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device, make_device_type
from incidents.choices import IncidentSeverity
from incidents.services.incidents import declare_incident
from risk import services as risk_services

from .conftest import screenshot, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PASSWORD = "correct-horse-battery-staple-42"


def _populate(world):
    admin = world.a.user(Role.ADMIN)
    admin.set_password(PASSWORD)
    admin.save(update_fields=["password"])
    device_type = make_device_type(
        world.a.org, manufacturer="Kamstrup", model="flowIQ 2200", supports_certificates=False
    )
    device = make_device(
        world.a.org, site=world.a.sites[0], device_type=device_type, name="Water meter harbour-01"
    )
    transition_device(device, LifecycleState.PROVISIONED, actor=admin, reason="bench")
    risk = risk_services.create_risk(
        actor=admin,
        organization=world.a.org,
        title="Gateway takeover",
        scenario="Through the web interface",
        likelihood=4,
        impact=5,
    )
    risk_services.assess_residual(risk, actor=admin, likelihood=2, impact=3)
    incident = declare_incident(
        organization=world.a.org,
        title="Meters offline",
        severity=IncidentSeverity.HIGH,
        actor=admin,
    )
    if not Framework.objects.filter(code="etsi-en-303-645").exists():
        load_catalogue([DATA_DIR / "etsi-en-303-645.json"])  # one framework is enough here
    assessment = assessments.create_assessment(
        world.a.org,
        framework=Framework.objects.get(code="etsi-en-303-645"),
        name="ETSI review",
        actor=admin,
        start=True,
    )
    result = assessment.results.order_by("pk").first()
    assessments.set_result(result, actor=admin, result_value="non_compliant")
    return admin, Device.objects.get(pk=device.pk), risk, incident, assessment, result


def _background(page, selector):
    return page.eval_on_selector(selector, "e => getComputedStyle(e).backgroundColor")


def test_pages_with_data_driven_styles_work_under_the_policy(page, live_server_url, world):
    admin, device, risk, incident, assessment, result = _populate(world)
    page.set_viewport_size({"width": 1366, "height": 900})
    sign_in(page, live_server_url, admin, PASSWORD)

    pages = [
        ("monitoring", "/monitoring/"),
        ("devices", "/devices/"),
        ("inventory", "/devices/inventory/"),
        ("device", f"/devices/{device.pk}/"),
        ("register", "/risk/"),
        ("heatmap", "/risk/heatmap/"),
        ("risk", f"/risk/risks/{risk.pk}/"),
        ("risk-report", "/risk/report/"),
        ("incidents", "/incidents/"),
        ("incident", f"/incidents/{incident.pk}/"),
        ("scorecard", "/compliance/"),
        ("assessment", f"/compliance/assessments/{assessment.pk}/"),
        ("result", f"/compliance/requirements/{result.pk}/"),
        ("admin", "/admin/"),
        ("admin-devices", "/admin/devices/device/"),
        ("admin-device", f"/admin/devices/device/{device.pk}/change/"),
        ("admin-certificates", "/admin/identity/devicecertificate/"),
        ("admin-incident", f"/admin/incidents/incident/{incident.pk}/change/"),  # SelectFilter2
    ]
    for name, path in pages:
        response = page.goto(f"{live_server_url}{path}")
        assert response.status == 200, path
        if os.environ.get("ENCOMPASS_E2E_SCREENSHOTS"):  # before/after comparisons, on request
            screenshot(page, f"csp-{name}")
        if name == "device":
            # The state badge keeps its state colour (provisioned), not the plain badge grey.
            assert _background(page, ".dev-badge") not in ("rgba(0, 0, 0, 0)", "rgb(238, 241, 245)")
        if name == "register":
            assert _background(page, ".level-badge") != "rgb(140, 149, 159)"  # not the fallback
        if name == "admin-devices":
            assert _background(page, "#result_list td.field-state_badge span") != "rgba(0, 0, 0, 0)"
