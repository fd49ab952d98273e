"""Every write of incident response goes through these functions (see docs/incidents.md)."""

from .containment import (
    pause_rollouts,
    quarantine_devices,
    reverse_containment,
    revoke_certificates,
    suspend_api_key,
)
from .escalation import escalate_alerts, run_escalation_rules
from .incidents import (
    add_note,
    add_responder,
    assign_incident,
    declare_incident,
    remove_responder,
    update_incident,
)
from .phases import change_phase, phase_problems, record_containment
from .playbooks import add_task, apply_playbook, load_shipped_playbooks, update_task
from .reviews import add_follow_up_action, complete_review, create_risk_from_review, save_review
from .sla import check_sla_breaches, sla_minutes, sla_status

__all__ = [
    "add_follow_up_action",
    "add_note",
    "add_responder",
    "add_task",
    "apply_playbook",
    "assign_incident",
    "change_phase",
    "check_sla_breaches",
    "complete_review",
    "create_risk_from_review",
    "declare_incident",
    "escalate_alerts",
    "load_shipped_playbooks",
    "pause_rollouts",
    "phase_problems",
    "quarantine_devices",
    "record_containment",
    "remove_responder",
    "reverse_containment",
    "revoke_certificates",
    "run_escalation_rules",
    "save_review",
    "sla_minutes",
    "sla_status",
    "suspend_api_key",
    "update_incident",
    "update_task",
]
