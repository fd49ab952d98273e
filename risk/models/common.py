"""Role tables and helpers shared by the risk models."""

from encompass.tenancy.roles import ALL_ROLES, SECURITY, Role

# The register is the Security officer's: they (and Admins) write it, everyone reads it.
REGISTER_PERMISSIONS = {
    "view": ALL_ROLES,
    "add": SECURITY,
    "change": SECURITY,
    "delete": SECURITY,
    "export": frozenset({*SECURITY, Role.AUDITOR}),
}
# Accepting a risk is a Security officer's decision (checked again with roles_in on the org).
ACCEPTERS = frozenset({Role.SECURITY_OFFICER})
# Operators carry out mitigations: they may move them along, not create or delete them.
MITIGATION_PERMISSIONS = {
    "view": ALL_ROLES,
    "add": SECURITY,
    "change": SECURITY | {Role.OPERATOR},
    "delete": SECURITY,
}
