from .containment import ContainmentAction
from .incident import Incident, IncidentQuerySet, IncidentUserObjectPermission
from .playbook import IncidentTask, Playbook, PlaybookTask
from .review import IncidentAction, IncidentRisk, PostIncidentReview
from .sla import EscalationRule, SlaBreach, SlaPolicy
from .timeline import ImmutableEntry, TimelineEntry

__all__ = [
    "ContainmentAction",
    "EscalationRule",
    "ImmutableEntry",
    "Incident",
    "IncidentAction",
    "IncidentQuerySet",
    "IncidentRisk",
    "IncidentTask",
    "IncidentUserObjectPermission",
    "Playbook",
    "PlaybookTask",
    "PostIncidentReview",
    "SlaBreach",
    "SlaPolicy",
    "TimelineEntry",
]
