"""The web UI pages render for members, scoped to what they may see."""

import pytest
from django.test import Client
from django.urls import reverse

from devices.monitoring.services import raise_alert
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device

pytestmark = pytest.mark.django_db


def _client(user):
    client = Client()
    client.force_login(user)
    return client


def test_dashboard_counts_feed_and_alerts(world, reporter):
    from .conftest import item

    reporter.post([item("telemetry")])
    make_device(world.b.org)
    raise_alert(
        organization=world.a.org, kind="t", title="Fan failed", severity="high", dedupe_key="t1"
    )
    raise_alert(
        organization=world.b.org, kind="t", title="Not yours", severity="high", dedupe_key="t2"
    )
    response = _client(world.a.user(Role.OPERATOR)).get(reverse("monitoring_ui:dashboard"))
    assert response.status_code == 200
    counts = response.context["counts"]
    assert counts["total"] == 1
    assert {s["value"]: s["count"] for s in counts["health"]}["online"] == 1
    assert [a.title for a in response.context["alerts"]] == ["Fan failed"]
    assert response.context["live"]["since"] >= max(
        e["id"] for e in response.context["live"]["events"]
    )
    assert b'id="live-config"' in response.content
    counts_json = _client(world.a.user(Role.OPERATOR)).get(reverse("monitoring_ui:counts")).json()
    assert counts_json["total"] == 1 and counts_json["alerts"][0]["title"] == "Fan failed"


def test_device_page_has_series_and_other_tenant_is_404(world, reporter, make_reporter):
    from .conftest import item

    reporter.post(
        [
            item("telemetry", {"metrics": {"temp_c": 20, "rh": 40}}),
            item("telemetry", {"metrics": {"temp_c": 21}}),
        ]
    )
    client = _client(world.a.user(Role.AUDITOR))
    response = client.get(reverse("monitoring_ui:device", args=[reporter.device.pk]))
    assert response.status_code == 200
    series = response.context["live"]["series"]
    assert [p[1] for p in series["temp_c"]] == [20, 21] and len(series["rh"]) == 1
    theirs = make_reporter(world.b)
    assert client.get(reverse("monitoring_ui:device", args=[theirs.device.pk])).status_code == 404


def test_alert_page_actions_follow_roles(world):
    alert, _ = raise_alert(
        organization=world.a.org, kind="t", title="Door open", severity="medium", dedupe_key="d1"
    )
    auditor = _client(world.a.user(Role.AUDITOR))
    assert b"Door open" in auditor.get(reverse("monitoring_ui:alerts")).content
    auditor.post(reverse("monitoring_ui:alert_action", args=[alert.pk, "acknowledge"]))
    alert.refresh_from_db()
    assert alert.status == "open"
    operator = _client(world.a.user(Role.OPERATOR))
    operator.post(
        reverse("monitoring_ui:alert_action", args=[alert.pk, "resolve"]), {"resolution": "closed"}
    )
    alert.refresh_from_db()
    assert alert.status == "resolved"
    assert (
        _client(world.b.user(Role.OPERATOR))
        .post(reverse("monitoring_ui:alert_action", args=[alert.pk, "acknowledge"]))
        .status_code
        == 404
    )


def test_dashboard_history_for_the_charts(world, reporter):
    """Events per minute by kind, online/late/offline walked back from today's counts, open
    alerts by severity -- what the dashboard's charts start from."""
    from devices.monitoring.views import fleet_history

    from .conftest import item

    reporter.post([item("telemetry"), item("telemetry")])  # the device comes online
    raise_alert(
        organization=world.a.org, kind="t", title="Fan failed", severity="high", dedupe_key="t1"
    )
    raise_alert(organization=world.b.org, kind="t", title="x", severity="low", dedupe_key="t2")
    history = fleet_history(world.a.user(Role.AUDITOR), world.a.org)
    assert sum(history["events"]["device.telemetry"].values()) == 2
    assert history["health"]["series"] == ["online", "late", "offline"]
    points = history["health"]["points"]
    assert len(points) == history["minutes"] == 60
    assert points[-1][1] == 1  # online now
    assert points[0][1] == 0  # an hour ago it had not come online yet
    assert {a["severity"]: a["count"] for a in history["alerts"]} == {
        "critical": 0,
        "high": 1,
        "medium": 0,
        "low": 0,
    }
    page = _client(world.a.user(Role.AUDITOR)).get(reverse("monitoring_ui:dashboard"))
    assert (
        b'id="chart-events"' in page.content and b"vendor/chartjs/chart.umd.min.js" in page.content
    )
    assert b'id="feed-pause"' in page.content
