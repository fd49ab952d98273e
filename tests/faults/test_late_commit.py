"""Readers that follow the event table by id must not skip a transaction that commits late.

The fault: a transaction takes its event ids, then waits (a device row locked by a transition, a
second batch) and commits after a later transaction's events were read. Injected here with a
real second thread holding its transaction open on PostgreSQL.
"""

import threading

import pytest
from django.db import connection, transaction

from encompass.events.models import Event
from encompass.events.services import record_event
from encompass.tenancy.roles import Role
from encompass.webhooks.models import WebhookDelivery
from encompass.webhooks.services import create_webhook_endpoint, fan_out_events

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.faults]


class LateCommit:
    """A thread that records ``count`` events in one transaction and commits only when told."""

    def __init__(self, org, kind, count=1):
        self.ids = []
        self.stored = threading.Event()
        self.go = threading.Event()
        self.error = None

        def run():
            try:
                with transaction.atomic():
                    for _ in range(count):
                        self.ids.append(record_event(kind, organization=org).pk)
                    self.stored.set()
                    assert self.go.wait(30)
            except Exception as exc:  # reported by the test
                self.error = exc
                self.stored.set()
            finally:
                connection.close()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert self.stored.wait(30)

    def commit(self):
        self.go.set()
        self.thread.join(30)
        assert self.error is None, self.error


@pytest.fixture
def endpoint(world, settings):
    settings.ENCOMPASS = {**settings.ENCOMPASS, "WEBHOOK_ALLOW_PRIVATE_NETWORKS": True}
    endpoint, _ = create_webhook_endpoint(
        organization=world.a.org,
        name="SIEM",
        url="http://127.0.0.1:9/hook",
        event_prefixes=["probe."],
        actor=world.a.user(Role.ADMIN),
    )
    return endpoint


def _queued(kind):
    return WebhookDelivery.objects.filter(kind=kind).count()


def test_fan_out_delivers_events_that_commit_after_a_later_batch(world, endpoint, monkeypatch):
    monkeypatch.setattr("encompass.webhooks.services._enqueue", lambda pk: None)
    slow = LateCommit(world.a.org, "probe.slow", count=50)  # takes the lower ids first
    fast = [record_event("probe.fast", organization=world.a.org).pk for _ in range(50)]
    assert max(slow.ids) < min(fast)
    fan_out_events()
    assert _queued("probe.fast") == 50
    slow.commit()
    fan_out_events()
    fan_out_events()
    counts = {"fast": _queued("probe.fast"), "slow": _queued("probe.slow")}
    print(f"late-commit fan-out: sent 100, queued {counts}")
    assert counts == {"fast": 50, "slow": 50}
    # Exactly once per (endpoint, event), however many runs saw the rows.
    assert WebhookDelivery.objects.count() == 100


def test_fan_out_moves_past_a_transaction_larger_than_a_batch(world, endpoint, monkeypatch):
    monkeypatch.setattr("encompass.webhooks.services._enqueue", lambda pk: None)
    with transaction.atomic():
        for _ in range(30):
            record_event("probe.bulk", organization=world.a.org)
    fan_out_events(batch=7)
    fan_out_events(batch=7)
    assert _queued("probe.bulk") == 30


def test_replay_returns_an_event_that_committed_after_the_client_saw_a_later_one(world):
    from encompass.events.visibility import late_condition

    if connection.vendor != "postgresql":
        pytest.skip("ids become visible in order on SQLite (one writer)")
    slow = LateCommit(world.a.org, "probe.slow")
    seen = record_event("probe.fast", organization=world.a.org).pk
    slow.commit()  # the client saw `seen`, disconnected; then the slow one became visible
    late = late_condition(seen, 10_000)
    assert late is not None
    replayed = set(Event.objects.filter(late).values_list("pk", flat=True))
    assert slow.ids[0] in replayed and seen not in replayed
