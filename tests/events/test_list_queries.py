"""Big lists without full scans: bounded counts, no DISTINCT over history, pinned query counts."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from devices.monitoring.models import Alert
from encompass.events.choices import EventSource
from encompass.events.models import Event
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device
from encompass.testing.web import web
from encompass.web.pagination import CappedPaginator

pytestmark = pytest.mark.django_db


def _events(org, n, kind="device.telemetry", device=None):
    now = timezone.now()
    Event.objects.bulk_create(
        Event(
            organization=org,
            device=device,
            kind=kind,
            source=EventSource.DEVICE,
            received_at=now - datetime.timedelta(seconds=i),
        )
        for i in range(n)
    )


def _staff(user):
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


def _queries_on(ctx, table):
    return [q["sql"] for q in ctx.captured_queries if f'"{table}"' in q["sql"]]


def test_admin_event_changelist_counts_boundedly_and_never_lists_distinct_kinds(world):
    _events(world.a.org, 30)
    _events(world.a.org, 3, kind="device.security")
    client = web(_staff(world.a.user(Role.OPERATOR)))
    client.get("/admin/events/event/")
    with CaptureQueriesContext(connection) as ctx:
        page = client.get("/admin/events/event/")
    assert page.status_code == 200
    on_events = _queries_on(ctx, Event._meta.db_table)
    assert not [q for q in on_events if "DISTINCT" in q.upper()], on_events
    counts = [q for q in on_events if "COUNT(" in q.upper()]
    assert counts and all(f"LIMIT {CappedPaginator.cap + 1}" in q for q in counts), counts
    assert len(on_events) == 2  # the bounded count and the page
    # Session, user, the API-key check, the grant query, the admin's membership check (twice),
    # the bounded count, the page, the organizations' names. (No global model-permission
    # queries: the admins that used them -- auth, OTP, django-q -- are off the tenant admin site.)
    assert len(ctx.captured_queries) == 9, "\n".join(q["sql"][:160] for q in ctx.captured_queries)
    # The class filter's choices are the retention classes; choosing one narrows the page.
    assert b"?class=security" in page.content
    security = client.get("/admin/events/event/?class=security")
    assert security.status_code == 200
    assert security.context["cl"].result_count == 3


def test_admin_event_changelist_shows_newest_first(world):
    _events(world.a.org, 3)
    client = web(_staff(world.a.user(Role.OPERATOR)))
    cl = client.get("/admin/events/event/").context["cl"]
    ids = [e.pk for e in cl.result_list]
    assert ids == sorted(ids, reverse=True)


def test_web_device_list_count_is_capped(world, monkeypatch):
    monkeypatch.setattr(CappedPaginator, "cap", 5)
    for _ in range(7):
        make_device(world.a.org)
    client = web(world.a.user(Role.OPERATOR))
    with CaptureQueriesContext(connection) as ctx:
        page = client.get(reverse("devices_ui:list") + "?page=1")
    assert b"5+ matching" in page.content
    counts = [q for q in _queries_on(ctx, "devices_device") if "COUNT(" in q.upper()]
    assert counts and all("LIMIT 6" in q for q in counts), counts
    few = client.get(reverse("devices_ui:list") + "?state=deployed")
    assert b"0 matching" in few.content and b"0+ matching" not in few.content


def test_web_device_list_query_count_does_not_grow(world, django_assert_num_queries):
    for _ in range(3):
        make_device(world.a.org, site=world.a.sites[0])
    client = web(world.a.user(Role.OPERATOR))
    client.get(reverse("devices_ui:list"))
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("devices_ui:list"))
    for _ in range(20):
        make_device(world.a.org, site=world.a.sites[1])
    with django_assert_num_queries(len(few.captured_queries)):
        client.get(reverse("devices_ui:list"))


def test_web_alert_list_count_is_bounded(world):
    device = make_device(world.a.org)
    now = timezone.now()
    Alert.objects.bulk_create(
        Alert(
            organization=world.a.org,
            device=device,
            source="rule",
            kind="threshold",
            severity="medium",
            title=f"alert {i}",
            dedupe_key=f"k{i}",
            first_seen_at=now,
            last_seen_at=now - datetime.timedelta(minutes=i),
        )
        for i in range(3)
    )
    client = web(world.a.user(Role.OPERATOR))
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(reverse("monitoring_ui:alerts")).status_code == 200
    counts = [q for q in _queries_on(ctx, Alert._meta.db_table) if "COUNT(" in q.upper()]
    assert all(f"LIMIT {CappedPaginator.cap + 1}" in q for q in counts), counts
