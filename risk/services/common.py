"""What every risk service does after it writes: audit and publish."""

from encompass.audit.services import diff, record_audit, snapshot
from encompass.events.services import record_event
from encompass.exceptions import NotPermitted, ValidationError
from encompass.tenancy.access import ensure_can_create, ensure_permitted, roles_in

__all__ = [
    "NotPermitted",
    "ValidationError",
    "check_member",
    "check_same_org",
    "ensure_can_create",
    "ensure_permitted",
    "record",
    "snapshot",
]


def record(verb, obj, *, actor, before=None, extra=None, event=True, payload=None):
    """Audit ``<app>.<model>.<verb>`` with the field diff, and publish ``<model>.<verb>``."""
    after = snapshot(obj)
    changes = {"after": after} if before is None else diff(before, after)
    if extra:
        changes.update(extra)
    record_audit(f"{obj._meta.label_lower}.{verb}", actor=actor, obj=obj, changes=changes)
    if event:
        record_event(
            f"{obj._meta.model_name}.{verb}",
            organization=obj.organization,
            payload={"id": obj.pk, "repr": str(obj)[:200], **(payload or {})},
        )
    return changes


def check_same_org(organization, field, objects, *, allow_shared=False):
    """Raise a field-named error if any object belongs to another organization."""
    for obj in objects:
        org_id = obj.organization_id
        if org_id is None and allow_shared:
            continue
        if org_id != organization.pk:
            raise ValidationError({field: f"{obj} does not belong to {organization}."})


def members_of(organizations):
    """Users holding a role in any of ``organizations`` (a queryset or one organization)."""
    from django.contrib.auth import get_user_model
    from django.db.models import Q

    lookup = "in" if hasattr(organizations, "model") else "exact"
    return (
        get_user_model()
        .objects.filter(
            Q(**{f"organizationuserobjectpermission__content_object__{lookup}": organizations})
            | Q(
                **{
                    f"siteuserobjectpermission__content_object__organization__{lookup}": (
                        organizations
                    )
                }
            )
        )
        .distinct()
        .order_by("username")
    )


def check_member(organization, field, user):
    """A user named as an owner must be a member of the organization."""
    if user is not None and not roles_in(user, organization):
        raise ValidationError({field: f"{user} is not a member of {organization}."})
