"""Row locks that do not deadlock with foreign-key checks, with real threads on PostgreSQL.

Django's foreign keys on PostgreSQL are DEFERRABLE INITIALLY DEFERRED: inserting a row that
names the organization takes a FOR KEY SHARE lock on the organization's row at COMMIT, after
the transaction has taken the audit chain's row lock. Incident numbering (and CA changes) used
to lock the organization FOR UPDATE, which conflicts with FOR KEY SHARE: an escalation
(organization locked, waiting for the audit chain) and an alert resolve (audit chain held,
committing its event) deadlocked, one of them a 500 -- found by wapiti and by schemathesis
(``PUT memberships/{id}/`` against incident numbering). The organization is now locked
FOR NO KEY UPDATE: still one numberer at a time, never in the way of a foreign-key check."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from devices.monitoring.services import raise_alert, resolve_alert
from encompass.audit.services import verify_chain
from encompass.tenancy.roles import Role
from encompass.testing.concurrency import run_threads
from incidents.models import Incident
from incidents.services import declare_incident, escalate_alerts

pytestmark = pytest.mark.django_db(transaction=True)

ROUNDS = 6


def _alerts(world, n, round_):
    return [
        raise_alert(
            organization=world.a.org,
            kind="test",
            title=f"Alert {round_}-{i}",
            severity="high",
            dedupe_key=f"lock-order-{round_}-{i}",
        )[0]
        for i in range(n)
    ]


def test_escalations_alert_resolves_and_numbering_never_deadlock(world):
    officer = world.a.user(Role.SECURITY_OFFICER)
    operator = world.a.user(Role.OPERATOR)
    for round_ in range(ROUNDS):
        alerts = _alerts(world, 4, round_)

        def work(i, alerts=alerts):
            if i == 0:
                return escalate_alerts([alerts[0]], actor=officer).pk
            if i == 1:
                return declare_incident(
                    organization=world.a.org, title="Numbered", severity="low", actor=officer
                ).pk
            return resolve_alert(alerts[i], actor=operator).pk

        results, errors = run_threads(4, work, timeout=60)
        assert not errors, errors
        assert all(results), results
    numbers = list(
        Incident.objects.filter(organization=world.a.org).values_list("number", flat=True)
    )
    assert sorted(numbers) == list(range(1, 2 * ROUNDS + 1))
    assert verify_chain(str(world.a.org.pk)).ok


def test_the_organization_row_is_locked_for_no_key_update(world):
    """The lock itself, as PostgreSQL is asked for it (FOR NO KEY UPDATE, not FOR UPDATE)."""
    officer = world.a.user(Role.SECURITY_OFFICER)
    with CaptureQueriesContext(connection) as queries:
        declare_incident(organization=world.a.org, title="One", severity="low", actor=officer)
    org_locks = [
        q["sql"] for q in queries if '"tenancy_organization"' in q["sql"] and "FOR " in q["sql"]
    ]
    assert org_locks and all("FOR NO KEY UPDATE" in sql for sql in org_locks), org_locks
