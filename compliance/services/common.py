"""Helpers every compliance service shares: permission on an organization, user-or-none."""

from encompass.audit.services import user_or_none  # noqa: F401  (re-exported)
from encompass.exceptions import NotPermitted
from encompass.tenancy.access import roles_in


def ensure_role_in(actor, organization, roles, what):
    """Raise ``NotPermitted`` unless ``actor`` holds one of ``roles`` organization-wide."""
    if not roles_in(actor, organization) & set(roles):
        raise NotPermitted(f"Your role may not {what} in {organization}.")
