"""Incident response on one screen: phases with their NIST CSF 2.0 tags, the transition table,
severities with their default SLA, categories, timeline kinds and containment kinds."""

from dataclasses import dataclass

from django.db import models


class Phase(models.TextChoices):
    DETECTION = "detection", "Detection"
    ANALYSIS = "analysis", "Analysis"
    CONTAINMENT = "containment", "Containment"
    ERADICATION = "eradication", "Eradication"
    RECOVERY = "recovery", "Recovery"
    LESSONS_LEARNED = "lessons_learned", "Lessons learned"
    CLOSED = "closed", "Closed"


PHASE_ORDER = list(Phase.values)

# NIST CSF 2.0 categories each phase carries out (DE = Detect, RS = Respond, RC = Recover,
# ID = Identify). Notifications (email, webhooks) are RS.CO whatever the phase.
PHASE_CSF = {
    Phase.DETECTION: ("DE.CM", "DE.AE"),
    Phase.ANALYSIS: ("RS.MA", "RS.AN"),
    Phase.CONTAINMENT: ("RS.MI",),
    Phase.ERADICATION: ("RS.MI",),
    Phase.RECOVERY: ("RC.RP", "RC.CO"),
    Phase.LESSONS_LEARNED: ("ID.IM",),
    Phase.CLOSED: (),
}
NOTIFICATION_CSF = ("RS.CO",)
CSF_TITLES = {
    "DE.CM": "Continuous monitoring",
    "DE.AE": "Adverse event analysis",
    "RS.MA": "Incident management",
    "RS.AN": "Incident analysis",
    "RS.MI": "Incident mitigation",
    "RS.CO": "Incident response reporting and communication",
    "RC.RP": "Incident recovery plan execution",
    "RC.CO": "Incident recovery communication",
    "ID.IM": "Improvement",
}

PHASE_COLOURS = {
    Phase.DETECTION: "#0969da",
    Phase.ANALYSIS: "#8250df",
    Phase.CONTAINMENT: "#cf222e",
    Phase.ERADICATION: "#bc4c00",
    Phase.RECOVERY: "#9a6700",
    Phase.LESSONS_LEARNED: "#1a7f37",
    Phase.CLOSED: "#57606a",
}


@dataclass(frozen=True)
class PhaseTransition:
    source: str
    target: str
    backward: bool
    description: str


P = Phase
# The whole machine. Forward moves follow NIST SP 800-61; backward moves exist because responders
# learn things (new facts send containment back to analysis; a recurrence sends recovery back to
# containment) and always need a note saying why. Guards (services/phases.py) add what the table
# cannot say: recovery needs containment recorded, closing needs a completed review.
PHASE_TRANSITIONS = [
    PhaseTransition(P.DETECTION, P.ANALYSIS, False, "Triage: the signal is worth analysing"),
    PhaseTransition(P.DETECTION, P.CONTAINMENT, False, "Contain first: the damage is spreading"),
    PhaseTransition(P.ANALYSIS, P.CONTAINMENT, False, "Scope known; isolate what is affected"),
    PhaseTransition(P.CONTAINMENT, P.ERADICATION, False, "Contained; remove the cause"),
    PhaseTransition(P.ERADICATION, P.RECOVERY, False, "Cause removed; restore service"),
    PhaseTransition(P.RECOVERY, P.LESSONS_LEARNED, False, "Service restored: resolved"),
    PhaseTransition(P.LESSONS_LEARNED, P.CLOSED, False, "Review completed"),
    PhaseTransition(P.CONTAINMENT, P.ANALYSIS, True, "New facts change the scope"),
    PhaseTransition(P.ERADICATION, P.ANALYSIS, True, "New facts change the scope"),
    PhaseTransition(P.ERADICATION, P.CONTAINMENT, True, "Containment did not hold"),
    PhaseTransition(P.RECOVERY, P.CONTAINMENT, True, "Recurrence during recovery"),
    PhaseTransition(P.RECOVERY, P.ERADICATION, True, "Cause not fully removed"),
    PhaseTransition(P.LESSONS_LEARNED, P.RECOVERY, True, "Recovery turned out incomplete"),
    PhaseTransition(P.CLOSED, P.ANALYSIS, True, "Reopened: the incident recurred"),
]
PHASE_TRANSITION_TABLE = {(t.source, t.target): t for t in PHASE_TRANSITIONS}
OPEN_PHASES = frozenset(set(Phase.values) - {Phase.CLOSED})
# Phases in which the incident is not yet contained (containment actions are expected here).
UNCONTAINED_PHASES = frozenset({P.DETECTION, P.ANALYSIS, P.CONTAINMENT})


def next_phases(source):
    return [t for t in PHASE_TRANSITIONS if t.source == source]


class IncidentSeverity(models.TextChoices):
    CRITICAL = "critical", "Critical"
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"


SEVERITY_RANK = {
    IncidentSeverity.LOW: 1,
    IncidentSeverity.MEDIUM: 2,
    IncidentSeverity.HIGH: 3,
    IncidentSeverity.CRITICAL: 4,
}
SEVERITY_COLOURS = {
    IncidentSeverity.LOW: "#6e7781",
    IncidentSeverity.MEDIUM: "#9a6700",
    IncidentSeverity.HIGH: "#bc4c00",
    IncidentSeverity.CRITICAL: "#cf222e",
}

# Default SLA in minutes: (acknowledge, contain, resolve). Organizations override per severity.
DEFAULT_SLA_MINUTES = {
    IncidentSeverity.CRITICAL: (15, 4 * 60, 24 * 60),
    IncidentSeverity.HIGH: (60, 8 * 60, 3 * 24 * 60),
    IncidentSeverity.MEDIUM: (4 * 60, 24 * 60, 7 * 24 * 60),
    IncidentSeverity.LOW: (24 * 60, 3 * 24 * 60, 30 * 24 * 60),
}


class SlaMetric(models.TextChoices):
    ACKNOWLEDGE = "acknowledge", "Time to acknowledge"
    CONTAIN = "contain", "Time to contain"
    RESOLVE = "resolve", "Time to resolve"


# Which incident timestamp stops each SLA clock (the clock starts at declared_at).
SLA_STOP_FIELD = {
    SlaMetric.ACKNOWLEDGE: "acknowledged_at",
    SlaMetric.CONTAIN: "contained_at",
    SlaMetric.RESOLVE: "resolved_at",
}


class Category(models.TextChoices):
    MALWARE = "malware", "Malware"
    UNAUTHORIZED_ACCESS = "unauthorized_access", "Unauthorized access"
    DATA_BREACH = "data_breach", "Data breach"
    PHYSICAL_TAMPERING = "physical_tampering", "Physical tampering"
    DENIAL_OF_SERVICE = "denial_of_service", "Denial of service"
    VULNERABILITY_EXPLOITED = "vulnerability_exploited", "Vulnerability exploited"
    MISCONFIGURATION = "misconfiguration", "Misconfiguration"
    OTHER = "other", "Other"


class TimelineKind(models.TextChoices):
    DECLARED = "declared", "Declared"
    PHASE = "phase", "Phase change"
    ASSIGNMENT = "assignment", "Assignment"
    RESPONDER = "responder", "Responders"
    ALERT = "alert", "Alert linked"
    CONTAINMENT = "containment", "Containment action"
    TASK = "task", "Task"
    PLAYBOOK = "playbook", "Playbook"
    NOTE = "note", "Note"
    CORRECTION = "correction", "Correction"
    UPDATE = "update", "Details changed"
    REVIEW = "review", "Post-incident review"
    SLA = "sla", "SLA"
    NOTIFICATION = "notification", "Notification"
    EXPORT = "export", "Report exported"


class ContainmentKind(models.TextChoices):
    QUARANTINE = "quarantine", "Quarantine device"
    REVOKE_CERTIFICATES = "revoke_certificates", "Revoke device certificates"
    PAUSE_ROLLOUTS = "pause_rollouts", "Pause rollouts"
    SUSPEND_API_KEY = "suspend_api_key", "Suspend API key"


# Kinds that can be undone from the incident (revocation cannot: re-enrol the device instead).
REVERSIBLE_CONTAINMENT = frozenset(
    {ContainmentKind.QUARANTINE, ContainmentKind.PAUSE_ROLLOUTS, ContainmentKind.SUSPEND_API_KEY}
)
