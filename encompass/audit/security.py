"""Authentication failures: one audit entry per chain concerned and one security event per tenant.

Every refused credential (password, second-factor code, API key, device credential, enrollment
token) and every lockout goes through :func:`record_auth_failure`, so the audit trail and the
organizations' event streams (``security.auth_failure``, kept as long as the retention policy's
security class) see the same thing. The entry goes on the platform chain when no organization
can be named (an unknown username or key), and on each named organization's chain otherwise --
an organization's Admins and Security officers see attempts against their own members, keys and
devices, never anybody else's.
"""

from django.db import transaction

from . import context
from .services import record_audit


def organizations_of_user(user):
    """The organizations ``user`` is a member of (none for ``None`` or an unsaved user)."""
    if user is None or getattr(user, "pk", None) is None:
        return []
    from encompass.tenancy.models import Membership

    return [
        m.organization for m in Membership.objects.filter(user=user).select_related("organization")
    ]


@transaction.atomic
def record_auth_failure(
    action,
    *,
    method,
    reason,
    actor,
    object_repr="",
    obj=None,
    organizations=(),
    device=None,
    platform=None,
    details=None,
    severity="warning",
):
    """Record one refused authentication (or a lockout) in the audit trail and as an event.

    ``action`` is the audit action (``auth.sign_in_failed``, ``auth.api_key.failed`` ...);
    ``method`` names the credential (``password``, ``totp``, ``api_key``, ``device_token``,
    ``certificate``, ``enrollment``); ``reason`` says why, in words safe to show an operator.
    ``platform`` forces (or suppresses) the platform-chain entry; by default it is written when
    no organization is concerned.
    """
    from encompass.events.services import record_event

    organizations = [o for o in organizations if o is not None]
    if device is not None and device.organization not in organizations:
        organizations.append(device.organization)
    ctx = context.current()
    changes = {"method": method, "reason": reason, **(details or {})}
    if platform is None:
        platform = not organizations
    if platform:
        record_audit(action, actor=actor, obj=obj, object_repr=object_repr, changes=changes)
    for org in organizations:
        record_audit(
            action,
            actor=actor,
            obj=obj,
            organization=org,
            object_repr=object_repr,
            changes=changes,
        )
        record_event(
            "security.auth_failure",
            organization=org,
            device=device if device is not None and device.organization_id == org.pk else None,
            severity=severity,
            payload={
                "method": method,
                "action": action,
                "reason": reason,
                "subject": object_repr,
                "ip": ctx.ip,
                **(details or {}),
            },
        )
