"""The read-only, cursor-paginated event API; retention; the table tailer."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from encompass.audit.models import AuditEntry
from encompass.events.models import Event, RetentionPolicy
from encompass.events.realtime import pushed_here
from encompass.events.retention import purge_organization
from encompass.events.services import record_event
from encompass.events.tailer import EventTailer
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device

pytestmark = pytest.mark.django_db


def _client(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_events_are_read_only_scoped_and_filterable(world):
    device = make_device(world.a.org, site=world.a.sites[0])
    mine = record_event(
        "device.telemetry", organization=world.a.org, device=device, payload={"metrics": {"t": 1}}
    )
    other = record_event("test.other", organization=world.a.org)
    theirs = record_event("test.theirs", organization=world.b.org)
    client = _client(world.a.user(Role.AUDITOR))
    ids = [row["id"] for row in client.get(reverse("event-list")).json()["results"]]
    assert mine.pk in ids and other.pk in ids and theirs.pk not in ids
    assert ids == sorted(ids, reverse=True)
    filtered = client.get(
        reverse("event-list"), {"device": device.pk, "kind": "device.telemetry"}
    ).json()["results"]
    assert [row["id"] for row in filtered] == [mine.pk]
    assert filtered[0]["device_uid"] == device.uid
    by_prefix = client.get(reverse("event-list"), {"kind_prefix": "test."}).json()["results"]
    assert {row["id"] for row in by_prefix} == {other.pk}
    future = (timezone.now() + datetime.timedelta(hours=1)).isoformat()
    assert client.get(reverse("event-list"), {"since": future}).json()["results"] == []
    assert client.get(reverse("event-detail", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("event-list"), {}, format="json").status_code == 405
    assert client.delete(reverse("event-detail", args=[mine.pk])).status_code == 405


def test_site_technician_sees_only_their_sites_events(world):
    mine = record_event("test.mine", organization=world.a.org, site=world.a.sites[0])
    other = record_event("test.other", organization=world.a.org, site=world.a.sites[1])
    ids = {
        row["id"]
        for row in _client(world.site_technician).get(reverse("event-list")).json()["results"]
    }
    assert mine.pk in ids and other.pk not in ids


def test_cursor_pagination(world):
    for n in range(7):
        record_event(f"test.page{n}", organization=world.a.org)
    client = _client(world.a.user(Role.OPERATOR))
    first = client.get(reverse("event-list"), {"page_size": 4, "kind_prefix": "test.page"}).json()
    second = client.get(first["next"]).json()
    assert len(first["results"]) == 4 and len(second["results"]) == 3
    assert not {r["id"] for r in first["results"]} & {r["id"] for r in second["results"]}


def test_retention_purges_by_class_and_audits(world):
    org = world.a.org
    device = make_device(org)
    old = timezone.now() - datetime.timedelta(days=40)
    kinds = [
        "device.telemetry",
        "device.heartbeat",
        "device.log",
        "device.security",
        "security.refused_device",
        "device.lifecycle",
    ]
    for kind in kinds:
        record_event(kind, organization=org, device=device)
    Event.objects.filter(organization=org, kind__in=kinds).update(received_at=old)
    recent = record_event("device.telemetry", organization=org, device=device)
    theirs = record_event("device.telemetry", organization=world.b.org)
    Event.objects.filter(pk=theirs.pk).update(received_at=old)
    counts = purge_organization(org, batch=2)
    assert counts == {"telemetry": 2, "logs": 0, "security": 0, "platform": 0}
    left = set(Event.objects.filter(organization=org, device=device).values_list("kind", flat=True))
    assert left == {
        "device.log",
        "device.security",
        "security.refused_device",
        "device.lifecycle",
        "device.telemetry",
    }
    assert (
        Event.objects.filter(pk=recent.pk).exists() and Event.objects.filter(pk=theirs.pk).exists()
    )
    entry = AuditEntry.objects.get(action="events.retention.purge", organization=org)
    assert entry.changes["deleted"]["telemetry"] == 2
    RetentionPolicy.objects.filter(organization=org).update(log_days=30, security_days=35)
    assert purge_organization(org) == {"telemetry": 0, "logs": 1, "security": 2, "platform": 0}
    assert purge_organization(org) == {"telemetry": 0, "logs": 0, "security": 0, "platform": 0}


def test_retention_policy_api_admin_only(world):
    admin, operator = _client(world.a.user(Role.ADMIN)), _client(world.a.user(Role.OPERATOR))
    policy = RetentionPolicy.objects.create(organization=world.a.org)
    url = reverse("event-retention-detail", args=[policy.pk])
    assert operator.patch(url, {"telemetry_days": 5}, format="json").status_code == 403
    response = admin.patch(url, {"telemetry_days": 5}, format="json")
    assert response.status_code == 200 and response.json()["telemetry_days"] == 5
    assert admin.patch(url, {"telemetry_days": 0}, format="json").status_code == 400
    assert AuditEntry.objects.filter(action="events.retentionpolicy.update").exists()


@pytest.fixture(autouse=True)
def _fresh_pushed_ids():
    # An earlier folder's flush (tests/crawl) resets the id sequences, so ids this process pushed
    # then come back; the tailer would take them for already pushed.
    pushed_here.clear()


def test_tailer_pushes_what_other_processes_stored(world):
    tailer = EventTailer(gap_ttl=60)
    tailer.poll()  # starts from the current end of the table
    pushed = record_event("test.here", organization=world.a.org)
    pushed_here.add_many([pushed.pk])  # this process pushed it at commit
    elsewhere = Event.objects.create(
        organization=world.a.org,
        kind="test.elsewhere",
        source="platform",
        received_at=timezone.now(),
    )
    found = tailer.poll()
    assert [m["id"] for m in found] == [elsewhere.pk]
    assert tailer.poll() == []


def test_tailer_catches_a_lower_id_committed_late(world):
    record_event("test.start", organization=world.a.org)
    tailer = EventTailer(gap_ttl=60)
    tailer.poll()
    first = record_event("test.a", organization=world.a.org)
    second = record_event("test.b", organization=world.a.org)
    third = record_event("test.c", organization=world.a.org)
    # the middle one is not visible yet (committed later by another process)
    Event.objects.filter(pk=second.pk).update(kind="test.b")
    hidden = Event.objects.get(pk=second.pk)
    Event.objects.filter(pk=second.pk).delete()
    assert [m["id"] for m in tailer.poll()] == [first.pk, third.pk]
    assert second.pk in tailer.gaps
    hidden.save(force_insert=True)
    assert [m["id"] for m in tailer.poll()] == [second.pk]
    assert not tailer.gaps


def test_tailer_starting_on_an_empty_table_waits_for_no_phantom_ids(world):
    Event.objects.all().delete()
    tailer = EventTailer(gap_ttl=60, gap_window=10)
    tailer.poll()
    assert tailer.high_water == 0
    event = record_event("test.first", organization=world.a.org)
    assert [m["id"] for m in tailer.poll()] == [event.pk]
    assert not tailer.gaps
