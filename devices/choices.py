"""The device lifecycle state machine, on one screen: states, colours, and who may move what.

Guards (what must hold first) and side effects (what happens with a transition) are registered by
the apps that own them -- see ``devices.lifecycle`` -- so identity, firmware and the
decommissioning checklist plug in without this table knowing about them.
"""

from dataclasses import dataclass

from django.db import models

from encompass.tenancy.roles import Role


class LifecycleState(models.TextChoices):
    PROCURED = "procured", "Procured"
    PROVISIONED = "provisioned", "Provisioned"
    DEPLOYED = "deployed", "Deployed"
    MAINTENANCE = "maintenance", "Maintenance"
    QUARANTINED = "quarantined", "Quarantined"
    DECOMMISSIONING = "decommissioning", "Decommissioning"
    DECOMMISSIONED = "decommissioned", "Decommissioned"
    DISPOSED = "disposed", "Disposed"


STATE_COLOURS = {
    LifecycleState.PROCURED: "#6e7781",
    LifecycleState.PROVISIONED: "#0969da",
    LifecycleState.DEPLOYED: "#1a7f37",
    LifecycleState.MAINTENANCE: "#9a6700",
    LifecycleState.QUARANTINED: "#cf222e",
    LifecycleState.DECOMMISSIONING: "#8250df",
    LifecycleState.DECOMMISSIONED: "#57606a",
    LifecycleState.DISPOSED: "#24292f",
}

# States in which a device is in service and may talk to the platform.
ACTIVE_STATES = frozenset(
    {LifecycleState.PROVISIONED, LifecycleState.DEPLOYED, LifecycleState.MAINTENANCE}
)
# States a device may be quarantined from (and released back to).
QUARANTINABLE = ACTIVE_STATES
# States from which decommissioning may start.
DECOMMISSIONABLE = frozenset({LifecycleState.PROCURED, *ACTIVE_STATES, LifecycleState.QUARANTINED})
TERMINAL_STATES = frozenset({LifecycleState.DISPOSED})
# States in which a device is installed somewhere and so must have a site.
SITED_STATES = frozenset({LifecycleState.DEPLOYED, LifecycleState.MAINTENANCE})

FIELD = frozenset({Role.ADMIN, Role.OPERATOR, Role.TECHNICIAN})
FLEET = frozenset({Role.ADMIN, Role.OPERATOR})
SECURITY = frozenset({Role.ADMIN, Role.SECURITY_OFFICER})
CONTAINMENT = frozenset({Role.ADMIN, Role.SECURITY_OFFICER, Role.OPERATOR})


@dataclass(frozen=True)
class Transition:
    source: str
    target: str
    roles: frozenset
    description: str


S = LifecycleState
TRANSITIONS = [
    Transition(S.PROCURED, S.PROVISIONED, FIELD, "Identity and configuration loaded"),
    Transition(S.PROVISIONED, S.DEPLOYED, FIELD, "Installed at its site and in service"),
    Transition(S.DEPLOYED, S.MAINTENANCE, FIELD, "Taken out of service for work"),
    Transition(S.MAINTENANCE, S.DEPLOYED, FIELD, "Back in service after work"),
    *[
        Transition(src, S.QUARANTINED, CONTAINMENT, "Isolated as a suspected security risk")
        for src in QUARANTINABLE
    ],
    # Release goes back to the state the device was quarantined from (guarded in lifecycle.py).
    *[
        Transition(S.QUARANTINED, dst, SECURITY, "Released from quarantine")
        for dst in QUARANTINABLE
    ],
    *[
        Transition(src, S.DECOMMISSIONING, FLEET | SECURITY, "Retirement started")
        for src in DECOMMISSIONABLE
    ],
    Transition(
        S.DECOMMISSIONING,
        S.DECOMMISSIONED,
        FLEET,
        "Credentials revoked, removed from rollouts, data wiped and retention decided",
    ),
    Transition(S.DECOMMISSIONED, S.DISPOSED, FLEET, "Physically disposed, with a record"),
]
TRANSITION_TABLE = {(t.source, t.target): t for t in TRANSITIONS}
ALL_TRANSITION_ROLES = frozenset().union(*(t.roles for t in TRANSITIONS))


def allowed_targets(source):
    return [t.target for t in TRANSITIONS if t.source == source]


class DeviceClass(models.TextChoices):
    SENSOR = "sensor", "Sensor"
    GATEWAY = "gateway", "Gateway"
    CONTROLLER = "controller", "Controller"
    CAMERA = "camera", "Camera"
    OTHER = "other", "Other"


class Criticality(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class Health(models.TextChoices):
    UNKNOWN = "unknown", "Never seen"
    ONLINE = "online", "Online"
    LATE = "late", "Late"
    OFFLINE = "offline", "Offline"


HEALTH_COLOURS = {
    Health.UNKNOWN: "#6e7781",
    Health.ONLINE: "#1a7f37",
    Health.LATE: "#9a6700",
    Health.OFFLINE: "#cf222e",
}


def transition_for(source, target):
    """The table's rule for ``source`` → ``target``, or ``None`` when the move is not allowed."""
    return TRANSITION_TABLE.get((source, target))


# --- the decommissioning checklist ---------------------------------------------------------------


class ChecklistItem(models.TextChoices):
    """The items of the decommissioning checklist, in the order they are normally done."""

    CREDENTIALS = "credentials", "Credentials and certificates revoked"
    ROLLOUTS = "rollouts", "Removed from rollouts"
    DATA_WIPE = "data_wipe", "Data wiped"
    RETENTION = "retention", "Data retention decided"
    DISPOSAL = "disposal", "Physical disposal recorded"


# Who may complete each item: field staff wipe and dispose, fleet and security staff do the rest.
CHECKLIST_ROLES = {
    ChecklistItem.CREDENTIALS: FLEET | SECURITY,
    ChecklistItem.ROLLOUTS: FLEET | SECURITY,
    ChecklistItem.DATA_WIPE: FIELD,
    ChecklistItem.RETENTION: FLEET | SECURITY,
    ChecklistItem.DISPOSAL: FIELD,
}
# What must be done before the device may become decommissioned (everything but disposal).
ITEMS_BEFORE_DECOMMISSIONED = (
    ChecklistItem.CREDENTIALS,
    ChecklistItem.ROLLOUTS,
    ChecklistItem.DATA_WIPE,
    ChecklistItem.RETENTION,
)


class WipeMethod(models.TextChoices):
    FACTORY_RESET = "factory_reset", "Factory reset (vendor procedure)"
    CRYPTO_ERASE = "crypto_erase", "Cryptographic erase (keys destroyed)"
    OVERWRITE = "overwrite", "Overwrite (NIST SP 800-88 Clear)"
    PURGE = "purge", "Purge (NIST SP 800-88 Purge)"
    STORAGE_DESTROYED = "storage_destroyed", "Storage removed and destroyed"


class RetentionDecision(models.TextChoices):
    """What happens to the telemetry and logs the device sent (GDPR data minimisation)."""

    KEEP = "keep", "Keep telemetry and logs"
    ANONYMISE = "anonymise", "Anonymise: detach from the device, keep numbers only"
    DELETE = "delete", "Delete telemetry and logs"


# A retention decision may only become stricter: what was anonymised or deleted cannot come back.
RETENTION_STRICTNESS = {
    RetentionDecision.KEEP: 0,
    RetentionDecision.ANONYMISE: 1,
    RetentionDecision.DELETE: 2,
}
# Event kinds a retention decision applies to (what the device itself reported about the world).
RETAINED_EVENT_KINDS = ("device.telemetry", "device.log")


class DisposalMethod(models.TextChoices):
    RECYCLED = "recycled", "Recycled (WEEE)"
    DESTROYED = "destroyed", "Destroyed (shredded / crushed)"
    RETURNED = "returned", "Returned to the manufacturer"
    RESOLD = "resold", "Refurbished and resold"
