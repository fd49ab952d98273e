"""``ingest_many``: a batch spanning many devices, in statements that do not grow with them, with
exactly the answers, events, pushes and alerts of one ``ingest_events`` per device."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from devices.choices import Health, LifecycleState
from devices.models import Device
from devices.monitoring.choices import RuleKind
from devices.monitoring.ingest import ingest_events, ingest_many
from devices.monitoring.models import Alert, AlertRule, MetricBaseline
from encompass.events import services as event_services
from encompass.events.models import Event
from encompass.testing.factories import make_device

from .conftest import item

pytestmark = pytest.mark.django_db


def rule(org, kind, **fields):
    r = AlertRule(organization=org, kind=kind, name=f"{kind} {AlertRule.objects.count()}", **fields)
    r.full_clean()
    r.save()
    return r


def devices(tenant, n):
    return [
        make_device(tenant.org, site=tenant.sites[0], state=LifecycleState.DEPLOYED)
        for _ in range(n)
    ]


def telemetry(value):
    return item("telemetry", {"metrics": {"temp_c": value, "rssi": -60}})


def test_statements_do_not_grow_with_the_number_of_devices(world):
    for tenant in (world.a, world.b):
        rule(tenant.org, RuleKind.THRESHOLD, metric="temp_c", comparison="gt", threshold=1000)
        rule(tenant.org, RuleKind.ANOMALY, metric="temp_c", sigma=50, min_samples=3)
        rule(tenant.org, RuleKind.RATE_OF_CHANGE, metric="rssi", threshold=10**6)
    fleet = devices(world.a, 8) + devices(world.b, 4)
    ingest_many([(d, [telemetry(20)]) for d in fleet])  # first contact: health, baselines

    def statements(some):
        batches = [
            (d, [telemetry(21), telemetry(22), item("log", {"message": "ok"})]) for d in some
        ]
        with CaptureQueriesContext(connection) as ctx:
            results = ingest_many(batches)
        assert all(results[d.pk].accepted == 3 for d in some)
        return len(ctx.captured_queries)

    few = statements([fleet[0], fleet[-1]])
    many = statements(fleet)
    assert many == few <= 12, (few, many)
    assert MetricBaseline.objects.get(device=fleet[5], metric="temp_c").samples == 3


def _strip(results):
    return [{k: v for k, v in r.items() if k != "event"} for r in results]


def _mixed(at):
    skewed = at.replace(year=at.year + 1).isoformat()
    return [
        item("telemetry", {"metrics": {"temp_c": 90}}, event_id="hot"),
        item("telemetry", {"metrics": {"temp_c": "warm"}}, event_id="bad-value"),
        {"id": "no kind", "kind": "nope", "occurred_at": at.isoformat(), "payload": {}},
        item("log", {"message": "again"}, event_id="hot"),  # repeated in the batch
        item("log", {"message": "stored before"}, event_id="old-1"),  # stored by an earlier batch
        {"id": "future", "kind": "log", "occurred_at": skewed, "payload": {"message": "x"}},
        item("security", {"signal": "tamper"}, event_id="sig-1"),
        item("heartbeat", {}, event_id="hb-1"),
        "not an object",
    ]


def test_a_mixed_batch_answers_as_one_ingest_per_device(
    world, monkeypatch, django_capture_on_commit_callbacks
):
    threshold = rule(
        world.a.org, RuleKind.THRESHOLD, metric="temp_c", comparison="gt", threshold=80
    )
    rule(world.a.org, RuleKind.SECURITY_COUNT, signal="tamper", count=1, window_minutes=10)
    together, alone = devices(world.a, 2) + devices(world.b, 1), devices(world.a, 2)
    alone += devices(world.b, 1)
    for device in together + alone:
        ingest_events(device, [item("log", {"message": "hello"}, event_id="old-1")])
    before = Event.objects.order_by("-pk").values_list("pk", flat=True)[0]
    pushed = []
    monkeypatch.setattr(event_services, "push", lambda data: pushed.append(data))
    now = timezone.now()

    def run(func):
        pushed.clear()
        with django_capture_on_commit_callbacks(execute=True):
            answers = func()
        return answers, [e for batch in pushed for e in batch]

    many, many_pushed = run(lambda: ingest_many([(d, _mixed(now)) for d in together], now=now))
    one, one_pushed = run(lambda: {d.pk: ingest_events(d, _mixed(now), now=now) for d in alone})

    for a, b in zip(together, alone, strict=True):
        ra, rb = many[a.pk], one[b.pk]
        assert _strip(ra.results) == _strip(rb.results)
        assert (ra.accepted, ra.duplicates, ra.rejected) == (
            rb.accepted,
            rb.duplicates,
            rb.rejected,
        )
        assert (ra.accepted, ra.duplicates, ra.rejected) == (3, 2, 4)
        assert [r["status"] for r in ra.results] == [
            "accepted",
            "rejected",
            "rejected",
            "duplicate",
            "duplicate",
            "rejected",
            "accepted",
            "accepted",
            "rejected",
        ]
        assert ra.results[1]["errors"] == {"payload.metrics.temp_c": "Must be a finite number."}

        def stored(device):
            return list(
                Event.objects.filter(device=device, pk__gt=before)
                .order_by("pk")
                .values_list("kind", "event_id", "severity", "source")
            )

        assert stored(a) == stored(b)

        def payloads(device):
            rows = Event.objects.filter(device=device, source="device", pk__gt=before)
            return list(rows.order_by("pk").values_list("payload", "received_at"))

        assert payloads(a) == payloads(b)
        assert [e.event_id for e in ra.events] == ["hot", "sig-1", "hb-1"]

        def alerts(device):
            return sorted(
                (x.kind, x.severity, x.details.get("value"), x.details.get("count"))
                for x in Alert.objects.filter(device=device)
            )

        assert alerts(a) == alerts(b)
        for device in (a, b):
            device.refresh_from_db()
            assert device.last_seen_at == now and device.health == Health.ONLINE
    assert Alert.objects.filter(device=together[0]).count() == 2  # threshold, security count
    assert Alert.objects.filter(dedupe_key=threshold.dedupe_key(together[0])).exists()
    assert not Alert.objects.filter(device=together[2]).exists()  # the rules are tenant a's

    def shape(batch, group):
        index = {d.uid: n for n, d in enumerate(group)}
        return sorted((index[e["device"]], e["kind"], e["event_id"]) for e in batch)

    assert shape(many_pushed, together) == shape(one_pushed, alone)
    assert len(many_pushed) == len(one_pushed) >= 9  # 3 devices x 3 events, plus the alerts'
    assert Device.objects.filter(pk__in=[d.pk for d in together], health=Health.ONLINE).count() == 3


def test_the_same_event_id_on_two_devices_is_two_events(world):
    one, two = devices(world.a, 2)
    batch = [item("log", {"message": "boot"}, event_id="boot-1")]
    results = ingest_many([(one, batch), (two, batch)])
    assert results[one.pk].accepted == results[two.pk].accepted == 1
    again = ingest_many([(one, batch), (two, batch)])
    assert again[one.pk].duplicates == again[two.pk].duplicates == 1
    assert Event.objects.filter(event_id="boot-1").count() == 2


def test_a_device_given_twice_is_refused(world):
    (device,) = devices(world.a, 1)
    with pytest.raises(ValueError):
        ingest_many([(device, [item()]), (device, [item()])])
    assert not Event.objects.filter(device=device).exists()
