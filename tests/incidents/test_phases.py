"""Every phase rule of change_phase: the table, the guards, the timestamps, the timeline."""

import pytest

from encompass.audit.models import AuditEntry
from encompass.events.models import Event
from encompass.exceptions import NotPermitted, ValidationError
from encompass.tenancy.roles import Role
from incidents.choices import PHASE_TRANSITIONS, Phase
from incidents.models import ImmutableEntry, Incident, TimelineEntry
from incidents.services import (
    add_note,
    change_phase,
    complete_review,
    record_containment,
    save_review,
)

pytestmark = pytest.mark.django_db

REVIEW = {
    "what_happened": "Gateway credentials leaked in a support bundle.",
    "root_cause": "Support bundles included the device key store.",
    "what_worked": "Quarantine within 10 minutes.",
    "what_to_change": "Strip keys from bundles; rotate on export.",
}


def walk_to(incident, target, actor):
    path = {
        Phase.ANALYSIS: [Phase.ANALYSIS],
        Phase.CONTAINMENT: [Phase.ANALYSIS, Phase.CONTAINMENT],
        Phase.ERADICATION: [Phase.ANALYSIS, Phase.CONTAINMENT, Phase.ERADICATION],
        Phase.RECOVERY: [
            Phase.ANALYSIS,
            Phase.CONTAINMENT,
            "contain",
            Phase.ERADICATION,
            Phase.RECOVERY,
        ],
        Phase.LESSONS_LEARNED: [
            Phase.ANALYSIS,
            Phase.CONTAINMENT,
            "contain",
            Phase.ERADICATION,
            Phase.RECOVERY,
            Phase.LESSONS_LEARNED,
        ],
    }[target]
    for step in path:
        if step == "contain":
            record_containment(incident, actor=actor)
        else:
            change_phase(incident, step, actor=actor)
    incident.refresh_from_db()
    return incident


def test_full_walk_sets_timestamps_timeline_audit_and_events(incident, officer):
    incident = walk_to(incident, Phase.LESSONS_LEARNED, officer)
    assert incident.acknowledged_at and incident.contained_at and incident.resolved_at
    assert incident.closed_at is None
    save_review(incident, actor=officer, **REVIEW)
    complete_review(incident, actor=officer)
    closed = change_phase(incident, Phase.CLOSED, actor=officer)
    assert closed.phase == Phase.CLOSED and closed.closed_at is not None
    phases = list(
        TimelineEntry.objects.filter(incident=incident, kind="phase").values_list("data", flat=True)
    )
    assert [p["to"] for p in phases] == [
        "analysis",
        "containment",
        "eradication",
        "recovery",
        "lessons_learned",
        "closed",
    ]
    assert phases[0]["csf"] == ["RS.MA", "RS.AN"]
    assert phases[2]["csf"] == ["RS.MI"]
    assert phases[3]["csf"] == ["RC.RP", "RC.CO"]
    assert phases[4]["csf"] == ["ID.IM"]
    assert (
        AuditEntry.objects.filter(
            action="incidents.incident.phase", object_id=str(incident.pk)
        ).count()
        == 6
    )
    assert (
        Event.objects.filter(
            kind="incident.phase_changed", organization=incident.organization
        ).count()
        == 6
    )


@pytest.mark.parametrize("transition", PHASE_TRANSITIONS, ids=lambda t: f"{t.source}->{t.target}")
def test_every_transition_in_the_table_is_reachable(transition, incident, officer):
    """Drive the incident to the source phase, then take the transition (with what it needs)."""
    source = Phase(transition.source)
    if source == Phase.CLOSED:
        walk_to(incident, Phase.LESSONS_LEARNED, officer)
        save_review(incident, actor=officer, **REVIEW)
        complete_review(incident, actor=officer)
        change_phase(incident, Phase.CLOSED, actor=officer)
    elif source != Phase.DETECTION:
        walk_to(incident, source, officer)
    incident.refresh_from_db()
    if transition.target == Phase.RECOVERY and incident.contained_at is None:
        record_containment(incident, actor=officer)
    if transition.target == Phase.CLOSED:
        save_review(incident, actor=officer, **REVIEW)
        complete_review(incident, actor=officer)
    moved = change_phase(
        incident, transition.target, actor=officer, note="new facts" if transition.backward else ""
    )
    assert moved.phase == transition.target


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (Phase.DETECTION, Phase.ERADICATION),
        (Phase.DETECTION, Phase.CLOSED),
        (Phase.ANALYSIS, Phase.RECOVERY),
        (Phase.CONTAINMENT, Phase.RECOVERY),
        (Phase.CONTAINMENT, Phase.LESSONS_LEARNED),
        (Phase.ERADICATION, Phase.CLOSED),
    ],
)
def test_moves_outside_the_table_are_refused_and_change_nothing(source, target, incident, officer):
    if source != Phase.DETECTION:
        walk_to(incident, source, officer)
    with pytest.raises(ValidationError) as err:
        change_phase(incident, target, actor=officer)
    assert "Allowed next phases" in str(err.value)
    incident.refresh_from_db()
    assert incident.phase == source


def test_no_recovery_before_containment_is_recorded(incident, officer):
    walk_to(incident, Phase.ERADICATION, officer)
    with pytest.raises(ValidationError) as err:
        change_phase(incident, Phase.RECOVERY, actor=officer)
    assert "containment is recorded" in str(err.value)
    record_containment(incident, actor=officer, note="All three sensors isolated")
    assert change_phase(incident, Phase.RECOVERY, actor=officer).phase == Phase.RECOVERY


def test_containment_is_recorded_only_while_containing(incident, officer):
    with pytest.raises(ValidationError):
        record_containment(incident, actor=officer)
    walk_to(incident, Phase.CONTAINMENT, officer)
    record_containment(incident, actor=officer)
    with pytest.raises(ValidationError):
        record_containment(incident, actor=officer)


def test_no_closing_without_a_completed_review(incident, officer):
    walk_to(incident, Phase.LESSONS_LEARNED, officer)
    with pytest.raises(ValidationError) as err:
        change_phase(incident, Phase.CLOSED, actor=officer)
    assert "post-incident review" in str(err.value)
    save_review(incident, actor=officer, **{**REVIEW, "root_cause": ""})
    with pytest.raises(ValidationError) as err:
        complete_review(incident, actor=officer)
    assert "root_cause" in err.value.message_dict
    with pytest.raises(ValidationError):
        change_phase(incident, Phase.CLOSED, actor=officer)
    save_review(incident, actor=officer, root_cause="Keys in bundles")
    complete_review(incident, actor=officer)
    assert change_phase(incident, Phase.CLOSED, actor=officer).phase == Phase.CLOSED


def test_review_is_completed_only_in_lessons_learned(incident, officer):
    save_review(incident, actor=officer, **REVIEW)
    with pytest.raises(ValidationError) as err:
        complete_review(incident, actor=officer)
    assert "lessons-learned" in str(err.value)


def test_backward_move_needs_a_note_and_clears_containment(incident, officer):
    walk_to(incident, Phase.CONTAINMENT, officer)
    record_containment(incident, actor=officer)
    change_phase(incident, Phase.ERADICATION, actor=officer)
    with pytest.raises(ValidationError) as err:
        change_phase(incident, Phase.ANALYSIS, actor=officer)
    assert "note" in str(err.value)
    moved = change_phase(
        incident, Phase.ANALYSIS, actor=officer, note="A fourth device is involved"
    )
    assert moved.contained_at is None
    last = TimelineEntry.objects.filter(incident=incident).last()
    assert last.data["backward"] is True and "fourth device" in last.text


def test_reopening_a_closed_incident_reopens_the_review(incident, officer):
    walk_to(incident, Phase.LESSONS_LEARNED, officer)
    save_review(incident, actor=officer, **REVIEW)
    complete_review(incident, actor=officer)
    change_phase(incident, Phase.CLOSED, actor=officer)
    reopened = change_phase(incident, Phase.ANALYSIS, actor=officer, note="Recurred on site 2")
    assert reopened.closed_at is None and reopened.resolved_at is None
    assert not reopened.review.is_complete


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.AUDITOR, Role.TECHNICIAN])
def test_only_incident_runners_change_phases(role, world, incident):
    with pytest.raises(NotPermitted):
        change_phase(incident, Phase.ANALYSIS, actor=world.a.user(role))
    incident.refresh_from_db()
    assert incident.phase == Phase.DETECTION


def test_other_tenant_cannot_change_phase(world, incident):
    with pytest.raises(NotPermitted):
        change_phase(incident, Phase.ANALYSIS, actor=world.b.user(Role.ADMIN))


def test_unknown_phase_names_the_field(incident, officer):
    with pytest.raises(ValidationError) as err:
        change_phase(incident, "triage", actor=officer)
    assert "to" in err.value.message_dict


def test_timeline_is_immutable_and_corrections_are_new_entries(incident, officer):
    note = add_note(incident, "Device 3 rebooted at 10:02", actor=officer)
    note.text = "edited"
    with pytest.raises(ImmutableEntry):
        note.save()
    with pytest.raises(ImmutableEntry):
        note.delete()
    fix = add_note(incident, "It was 10:12, not 10:02", actor=officer, corrects=note.pk)
    assert fix.kind == "correction" and fix.corrects_id == note.pk
    note.refresh_from_db()
    assert note.text == "Device 3 rebooted at 10:02"
    entries = list(TimelineEntry.objects.filter(incident=incident))
    assert entries == sorted(entries, key=lambda e: (e.at, e.pk))


def test_operator_may_add_notes_but_auditor_may_not(world, incident):
    add_note(incident, "Looking at the gateway logs", actor=world.a.user(Role.OPERATOR))
    with pytest.raises(NotPermitted):
        add_note(incident, "nope", actor=world.a.user(Role.AUDITOR))


def test_numbers_are_per_organization(world, incident, officer):
    from incidents.services import declare_incident

    second = declare_incident(organization=world.a.org, title="Two", severity="low", actor=officer)
    other = declare_incident(
        organization=world.b.org, title="B one", severity="low", actor=world.b.user(Role.ADMIN)
    )
    assert (incident.number, second.number, other.number) == (1, 2, 1)
    assert Incident.objects.get(pk=second.pk).reference == "INC-0002"
