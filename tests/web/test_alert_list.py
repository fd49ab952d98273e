"""The alert list: filters (with errors for invalid values), sorting, keyset pages, bulk
acknowledge / resolve through the services, and buttons per role."""

import re

import pytest
from django.urls import reverse

from devices.monitoring.choices import AlertStatus
from devices.monitoring.models import Alert
from devices.monitoring.services import raise_alert
from encompass.audit.models import AuditEntry
from encompass.tenancy.access import allowed_roles
from encompass.tenancy.roles import ALL_ROLES, Role
from encompass.testing.factories import make_device
from encompass.testing.web import web

pytestmark = pytest.mark.django_db

URL = "/monitoring/alerts/"


def _alerts(tenant, n, severity="high", site=None, device=None):
    out = []
    for i in range(n):
        alert, _ = raise_alert(
            organization=tenant.org,
            kind="t",
            title=f"{tenant.org.slug} alert {i:03d}",
            severity=severity,
            dedupe_key=f"{severity}:{i}:{site and site.pk}:{device and device.pk}",
            site=site or tenant.sites[0],
            device=device,
        )
        out.append(alert)
    return out


def _titles(response):
    return [a.title for a in response.context["rows"]]


@pytest.fixture
def url():
    return reverse("monitoring_ui:alerts")


def test_filters_by_severity_site_and_device(world, url):
    device = make_device(world.a.org, site=world.a.sites[1], name="Pump house 7")
    _alerts(world.a, 2, "low")
    _alerts(world.a, 1, "critical", site=world.a.sites[1], device=device)
    _alerts(world.b, 1, "critical")
    client = web(world.a.user(Role.AUDITOR))
    assert len(_titles(client.get(url))) == 3
    assert len(_titles(client.get(url, {"severity": "critical"}))) == 1
    assert len(_titles(client.get(url, {"severity": ["critical", "low"]}))) == 3
    assert len(_titles(client.get(url, {"site": world.a.sites[1].pk}))) == 1
    assert len(_titles(client.get(url, {"device": "pump HOUSE"}))) == 1
    assert len(_titles(client.get(url, {"device": device.uid}))) == 1


@pytest.mark.parametrize(
    "params, field",
    [
        ({"severity": "apocalyptic"}, "severity"),
        ({"site": "not-a-number"}, "site"),
        ({"status": "sleeping"}, "status"),
    ],
)
def test_an_invalid_filter_value_is_named_and_lists_nothing(world, url, params, field):
    _alerts(world.a, 2)
    response = web(world.a.user(Role.OPERATOR)).get(url, params)
    assert response.status_code == 200
    assert _titles(response) == []
    assert field in response.context["filter"].form.errors
    assert b"A filter value is not valid" in response.content
    assert b'class="field-error"' in response.content


def test_another_organizations_site_is_an_invalid_choice(world, url):
    _alerts(world.b, 1, site=world.b.sites[0])
    response = web(world.a.user(Role.OPERATOR)).get(url, {"site": world.b.sites[0].pk})
    assert "site" in response.context["filter"].form.errors
    assert _titles(response) == []


def test_sorting_and_keyset_pages_cover_every_row_once(world, url):
    _alerts(world.a, 120)
    client = web(world.a.user(Role.AUDITOR))
    for sort in ("title", "-title", "severity", "-last_seen_at", "device", "site"):
        seen, params = [], {"sort": sort}
        while True:
            response = client.get(url, params)
            seen += _titles(response)
            cursor = response.context["next_cursor"]
            if not cursor:
                break
            params = {"sort": sort, "after": cursor}
        assert len(seen) == 120 and len(set(seen)) == 120, sort
        if sort == "title":
            assert seen == sorted(seen)
        if sort == "-title":
            assert seen == sorted(seen, reverse=True)


def test_a_tampered_cursor_starts_again(world, url):
    _alerts(world.a, 3)
    response = web(world.a.user(Role.AUDITOR)).get(url, {"after": "forged"}, follow=True)
    assert len(_titles(response)) == 3
    assert b"no longer valid" in response.content


def test_page_queries_do_not_grow_with_rows(world, url, django_assert_max_num_queries):
    _alerts(world.a, 60)
    client = web(world.a.user(Role.OPERATOR))
    client.get(url)
    with django_assert_max_num_queries(16):
        client.get(url)


def test_bulk_acknowledge_and_resolve_through_the_services(world):
    alerts = _alerts(world.a, 3)
    theirs = _alerts(world.b, 1)[0]
    client = web(world.a.user(Role.OPERATOR))
    bulk = reverse("monitoring_ui:alert_bulk")
    ids = [a.pk for a in alerts[:2]] + [theirs.pk]
    response = client.post(bulk, {"verb": "acknowledge", "ids": ids}, follow=True)
    assert b"Acknowledged 2 alerts" in response.content
    assert b"1 selected alert(s) not found" in response.content
    statuses = dict(Alert.objects.values_list("pk", "status"))
    assert statuses[alerts[0].pk] == statuses[alerts[1].pk] == AlertStatus.ACKNOWLEDGED
    assert statuses[alerts[2].pk] == statuses[theirs.pk] == AlertStatus.OPEN
    assert AuditEntry.objects.filter(action="monitoring.alert.acknowledge").count() == 2
    # A resolution is required; nothing changes without it.
    client.post(bulk, {"verb": "resolve", "ids": [alerts[2].pk]})
    assert Alert.objects.get(pk=alerts[2].pk).status == AlertStatus.OPEN
    response = client.post(
        bulk,
        {"verb": "resolve", "ids": [a.pk for a in alerts], "resolution": "Fan replaced"},
        follow=True,
    )
    assert b"Resolved 3 alerts" in response.content
    assert set(
        Alert.objects.filter(pk__in=[a.pk for a in alerts]).values_list("status", flat=True)
    ) == {"resolved"}


def test_bulk_is_refused_per_alert_for_a_role_that_may_not(world):
    alerts = _alerts(world.a, 2)
    client = web(world.a.user(Role.AUDITOR))
    response = client.post(
        reverse("monitoring_ui:alert_bulk"),
        {"verb": "acknowledge", "ids": [a.pk for a in alerts]},
        follow=True,
    )
    assert b"You may not acknowledge" in response.content
    assert not Alert.objects.exclude(status=AlertStatus.OPEN).exists()


@pytest.mark.parametrize("role", sorted(ALL_ROLES))
def test_each_role_sees_only_the_buttons_it_may_use(world, url, role):
    _alerts(world.a, 2)
    html = web(world.a.user(role)).get(url).content.decode()
    may_ack = role in allowed_roles(Alert, "acknowledge")
    may_resolve = role in allowed_roles(Alert, "resolve")
    assert ("Acknowledge</button>" in html) == may_ack
    assert ("Acknowledge selected" in html) == may_ack
    assert (">Resolve</button>" in html) == may_resolve
    assert ("Resolve selected" in html) == may_resolve
    assert bool(re.search(r'name="ids" value="\d+"', html)) == (may_ack or may_resolve)


def test_site_technician_gets_buttons_only_on_its_sites(world, url):
    here = _alerts(world.a, 1, site=world.a.sites[0])[0]
    _alerts(world.a, 1, site=world.a.sites[1])
    html = web(world.site_technician).get(url).content.decode()
    assert f'value="{here.pk}"' in html
    assert html.count("Acknowledge</button>") == 1


def test_the_rendered_table_keeps_the_database_order(world, url):
    """The table draws the rows in the order the keyset query returned, not re-sorted by its
    default (newest first)."""
    _alerts(world.a, 5)
    html = web(world.a.user(Role.AUDITOR)).get(url, {"sort": "title"}).content.decode()
    positions = [html.index(f"tenant-a alert {i:03d}") for i in range(5)]
    assert positions == sorted(positions)
    assert 'aria-sort="ascending"' in html


@pytest.mark.parametrize("bulk", ["monitoring_ui:alert_bulk", "devices_ui:bulk"])
@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example"])
def test_bulk_forms_never_redirect_off_site(world, bulk, target):
    response = web(world.a.user(Role.OPERATOR)).post(reverse(bulk), {"next": target})
    assert response.status_code == 302
    assert response["Location"].startswith("/") and not response["Location"].startswith("//")
    assert "evil" not in response["Location"]


def test_alert_action_never_redirects_off_site(world):
    alert = _alerts(world.a, 1)[0]
    response = web(world.a.user(Role.OPERATOR)).post(
        reverse("monitoring_ui:alert_action", args=[alert.pk, "acknowledge"]),
        {"next": "//evil.example/"},
    )
    assert response.status_code == 302 and "evil" not in response["Location"]
    assert Alert.objects.get(pk=alert.pk).status == AlertStatus.ACKNOWLEDGED
