"""Roles held through a membership, and the default permission table of a tenant model.

A model says who may do what with ``role_permissions = {action: {roles}}``. Actions are the
Django verbs ``view``, ``add``, ``change``, ``delete`` plus any domain verbs a model needs
(``transition``, ``approve``, ``revoke`` ...). ``restrict(user, action)`` reads this table.
"""

from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    SECURITY_OFFICER = "security_officer", "Security officer"
    OPERATOR = "operator", "Operator"
    TECHNICIAN = "technician", "Technician"
    AUDITOR = "auditor", "Auditor"


ALL_ROLES = frozenset(Role.values)
STAFF_WRITERS = frozenset({Role.ADMIN, Role.SECURITY_OFFICER, Role.OPERATOR})
SECURITY = frozenset({Role.ADMIN, Role.SECURITY_OFFICER})
ADMIN_ONLY = frozenset({Role.ADMIN})

ROLE_DESCRIPTIONS = {
    Role.ADMIN: "Runs the organization: members, API keys, sites, every setting.",
    Role.SECURITY_OFFICER: "Owns identity, firmware approval, incidents, risk and compliance.",
    Role.OPERATOR: "Runs the fleet day to day: devices, rollouts, alerts.",
    Role.TECHNICIAN: "Field work on the devices of the sites the membership is narrowed to.",
    Role.AUDITOR: "Reads everything, including the audit trail; changes nothing.",
}

DEFAULT_ROLE_PERMISSIONS = {
    "view": ALL_ROLES,
    "add": ADMIN_ONLY,
    "change": ADMIN_ONLY,
    "delete": ADMIN_ONLY,
}


def permission_codename(role):
    """The guardian object-permission codename that carries a role on an Organization or Site."""
    return f"role_{role}"


def role_permission_choices(model_label):
    return tuple(
        (permission_codename(role), f"Holds the {label} role on this {model_label}")
        for role, label in Role.choices
    )
