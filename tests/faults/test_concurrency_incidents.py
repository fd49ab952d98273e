"""Incidents worked by several people at once, with real threads on PostgreSQL: racing phase
changes, assignments, escalations of one alert and closings have one winner where there must be
one; the loser gets the service's clear refusal; the timeline and audit show each change once."""

import json
import urllib.error
import urllib.request

import pytest
from django.core import mail
from django.db import connection

from encompass.audit.models import AuditEntry
from encompass.audit.services import verify_chain
from encompass.tenancy.roles import Role
from encompass.tenancy.services import create_api_key
from encompass.testing.concurrency import race, refusals, run_threads, winners
from encompass.testing.factories import make_member
from encompass.testing.servers import WebServer, database_url
from incidents.choices import Phase
from incidents.models import Incident, TimelineEntry
from incidents.services import (
    assign_incident,
    change_phase,
    complete_review,
    declare_incident,
    escalate_alerts,
    record_containment,
    save_review,
)

from .conftest import report

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.faults]

REVIEW = {
    "what_happened": "Gateway credentials leaked in a support bundle.",
    "root_cause": "Support bundles included the device key store.",
    "what_worked": "Quarantine within 10 minutes.",
    "what_to_change": "Strip keys from bundles; rotate on export.",
}


@pytest.fixture
def officer(world):
    return world.a.user(Role.SECURITY_OFFICER)


@pytest.fixture
def incident(world, officer):
    return declare_incident(
        organization=world.a.org, title="Beaconing sensors", severity="high", actor=officer
    )


def in_lessons_learned(incident, officer):
    for step in (Phase.ANALYSIS, Phase.CONTAINMENT, "contain", Phase.ERADICATION):
        if step == "contain":
            record_containment(incident, actor=officer)
        else:
            change_phase(incident, step, actor=officer)
    change_phase(incident, Phase.RECOVERY, actor=officer)
    change_phase(incident, Phase.LESSONS_LEARNED, actor=officer)
    save_review(incident, actor=officer, **REVIEW)
    complete_review(incident, actor=officer)
    incident.refresh_from_db()
    return incident


def phase_entries(incident):
    return list(
        TimelineEntry.objects.filter(incident=incident, kind="phase")
        .order_by("at", "pk")
        .values_list("data", flat=True)
    )


def assert_one_chain(incident, start, moves):
    """The phase timeline is one unbroken chain from ``start``, ``moves`` long, ending where the
    incident is, with one audit entry per move: no lost update, no double write."""
    incident.refresh_from_db()
    entries = phase_entries(incident)
    new = entries[-moves:] if moves else []
    assert len(entries) >= moves
    current = start
    for entry in new:
        assert entry["from"] == current, entries
        current = entry["to"]
    assert current == incident.phase
    audits = AuditEntry.objects.filter(
        action="incidents.incident.phase", object_id=str(incident.pk)
    )
    assert audits.count() == len(entries)


def test_racing_phase_changes_have_one_winner_or_serialize(incident, officer):
    before = len(phase_entries(incident))
    outcomes, errors = race(
        *[lambda: change_phase(incident, Phase.ANALYSIS, actor=officer) for _ in range(4)]
    )
    report("concurrent-incident-phase", sent=4, won=len(winners(outcomes)), errors=len(errors))
    assert not errors, errors
    assert len(winners(outcomes)) == 1
    for refusal in refusals(outcomes):
        assert "cannot move to analysis" in str(refusal.message_dict["to"])
    assert len(phase_entries(incident)) == before + 1
    assert_one_chain(incident, Phase.DETECTION, 1)
    incident.refresh_from_db()
    assert incident.phase == Phase.ANALYSIS and incident.acknowledged_at is not None

    # detection → analysis and detection → containment on another incident: whichever runs
    # second starts from the first's phase (analysis → containment is allowed, containment →
    # analysis needs a note), so both may win, one after the other
    fresh = declare_incident(
        organization=incident.organization, title="Second", severity="low", actor=officer
    )
    outcomes, errors = race(
        lambda: change_phase(fresh, Phase.ANALYSIS, actor=officer),
        lambda: change_phase(fresh, Phase.CONTAINMENT, actor=officer),
    )
    assert not errors, errors
    assert len(winners(outcomes)) + len(refusals(outcomes)) == 2
    assert_one_chain(fresh, Phase.DETECTION, len(winners(outcomes)))


def test_closing_races_reopening_with_one_winner(incident, officer):
    incident = in_lessons_learned(incident, officer)
    outcomes, errors = race(
        lambda: change_phase(incident, Phase.CLOSED, actor=officer),
        lambda: change_phase(incident, Phase.CLOSED, actor=officer),
        lambda: change_phase(incident, Phase.RECOVERY, actor=officer, note="not fixed"),
    )
    report("concurrent-incident-close", sent=3, won=len(winners(outcomes)), errors=len(errors))
    assert not errors, errors
    assert len(winners(outcomes)) == 1, outcomes
    assert_one_chain(incident, Phase.LESSONS_LEARNED, 1)
    incident.refresh_from_db()
    if incident.phase == Phase.CLOSED:
        assert incident.closed_at is not None
    else:
        assert incident.phase == Phase.RECOVERY and incident.closed_at is None
    assert verify_chain(str(incident.organization_id)).ok


def test_racing_assignments_write_once_and_serialize(world, incident, officer):
    lead = make_member(world.a.org, Role.SECURITY_OFFICER, username="lead")
    mail.outbox.clear()
    outcomes, errors = race(*[lambda: assign_incident(incident, lead, actor=officer)] * 4)
    assert not errors, errors
    assert outcomes == ["won"] * 4  # assigning the assignee again is a no-op, not an error
    assert TimelineEntry.objects.filter(incident=incident, kind="assignment").count() == 1
    audits = AuditEntry.objects.filter(action="incidents.incident.assign")
    assert audits.filter(object_id=str(incident.pk)).count() == 1
    assert [m.to for m in mail.outbox].count([lead.email]) == 1

    # three different people at once: all three assignments happen, one after the other
    people = [make_member(world.a.org, Role.SECURITY_OFFICER, username=f"l{i}") for i in range(3)]
    outcomes, errors = race(
        *[lambda p=p: assign_incident(incident, p, actor=officer) for p in people]
    )
    assert not errors, errors
    entries = list(
        TimelineEntry.objects.filter(incident=incident, kind="assignment")
        .order_by("at", "pk")
        .values_list("data", flat=True)
    )
    assert len(entries) == 4
    previous = None
    for entry in entries:  # each assignment saw the one before it: no lost update
        assert entry["previous"] == previous
        previous = entry["assignee"]
    incident.refresh_from_db()
    assert incident.assignee_id == previous
    assert audits.filter(object_id=str(incident.pk)).count() == 4


def test_racing_escalations_of_one_alert_declare_one_incident(world, officer, incident):
    from devices.monitoring.services import raise_alert

    alert, _ = raise_alert(
        organization=world.a.org,
        kind="security.auth_failures",
        title="Auth failures",
        severity="high",
        dedupe_key="race",
    )
    before = Incident.objects.count()
    outcomes, errors = race(*[lambda: escalate_alerts([alert], actor=officer)] * 4)
    report(
        "concurrent-alert-escalation",
        sent=4,
        incidents=Incident.objects.count() - before,
        errors=len(errors),
    )
    assert not errors, errors
    assert len(winners(outcomes)) == 1, outcomes
    for refusal in refusals(outcomes):
        assert "already escalated" in str(refusal.message_dict["alerts"])
    assert Incident.objects.count() == before + 1
    assert alert.incidents.count() == 1

    # into an existing incident: linked once, the others are told it already is
    other, _ = raise_alert(
        organization=world.a.org,
        kind="security.auth_failures",
        title="More auth failures",
        severity="high",
        dedupe_key="race-2",
    )
    outcomes, errors = race(
        *[lambda: escalate_alerts([other], actor=officer, incident=incident)] * 4
    )
    assert not errors, errors
    assert len(winners(outcomes)) == 1, outcomes
    assert TimelineEntry.objects.filter(incident=incident, kind="alert").count() == 1


def test_two_requests_to_two_web_processes_move_the_phase_once(world, incident, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    _key, raw = create_api_key(
        organization=world.a.org,
        name="soar",
        role=Role.SECURITY_OFFICER,
        actor=world.a.user(Role.ADMIN),
        days=5,
    )
    env = {"ENCOMPASS_EVENT_TAIL": "0", "LOG_LEVEL": "WARNING"}
    url = database_url(connection.settings_dict)
    servers = [WebServer(url, tmp_path / f"w{i}.log", env=env) for i in range(2)]

    def post(base):
        request = urllib.request.Request(
            f"{base}/api/v1/incidents/{incident.pk}/phase/",
            data=json.dumps({"to": "analysis"}).encode(),
            headers={"Authorization": f"Bearer {raw}", "Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            return exc.code, json.load(exc)

    try:
        _, errors = run_threads(2, lambda i: servers[i].start())  # both start at once
        assert not errors, errors
        results, errors = run_threads(2, lambda i: post(servers[i].url))
    finally:
        for server in servers:
            server.stop()
    assert not errors, errors
    codes = sorted(code for code, _ in results)
    report("concurrent-incident-phase-http", sent=2, codes=codes)
    assert codes == [200, 400], results
    refused = next(body for code, body in results if code == 400)
    assert "to" in refused and "cannot move to analysis" in str(refused["to"])
    assert_one_chain(incident, Phase.DETECTION, 1)
