"""Generic create / update / delete for plain tenant records.

Domain writes have named services (``transition_device``, ``issue_certificate`` ...). Plain
records (sites, device types, alert rules ...) use these three, which do what every service does:
check permission, validate, lock, write, audit, publish -- in one transaction.
"""

from django.db import transaction

from encompass.audit.services import diff, record_audit, snapshot
from encompass.events.services import record_event

from .access import ensure_can_create, ensure_permitted


def _label(instance):
    return instance._meta.label_lower


def _site_of(instance):
    path = getattr(type(instance), "site_lookup", None)
    if path == "pk":
        return instance
    if path and "__" not in path:
        return getattr(instance, path, None)
    return None


@transaction.atomic
def create_object(model, data, *, actor, m2m=None, event=True, system=False):
    """Create a ``model`` row from ``data`` (field values) after checking ``actor`` may add it.

    ``system=True`` is for platform work (seed, management commands, jobs) acting as a label
    such as ``"command:seed_demo"``: no membership check, still validated and audited.
    """
    instance = model(**data)
    organization = instance.organization
    site = None if getattr(model, "site_lookup", None) == "pk" else _site_of(instance)
    if not system:
        ensure_can_create(actor, model, organization, site)
    instance.full_clean()
    instance.save()
    for name, values in (m2m or {}).items():
        getattr(instance, name).set(values)
    record_audit(
        f"{_label(instance)}.create",
        actor=actor,
        obj=instance,
        changes={"after": snapshot(instance)},
    )
    if event:
        record_event(
            f"{instance._meta.model_name}.created",
            organization=organization,
            site=_site_of(instance) if model._meta.label != "tenancy.Site" else instance,
            payload={"id": instance.pk, "repr": str(instance)},
        )
    return instance


@transaction.atomic
def update_object(instance, data, *, actor, m2m=None, event=True, system=False):
    """Apply ``data`` to ``instance`` (locked) after checking ``actor`` may change it."""
    model = type(instance)
    if not system:
        ensure_permitted(actor, "change", instance)
    locked = model._default_manager.select_for_update().get(pk=instance.pk)
    before = snapshot(locked)
    for name, value in data.items():
        setattr(locked, name, value)
    if "organization" in data and data["organization"] != instance.organization:
        from encompass.exceptions import ValidationError

        raise ValidationError({"organization": "A record cannot move to another organization."})
    locked.full_clean()
    locked.save()
    for name, values in (m2m or {}).items():
        getattr(locked, name).set(values)
    changes = diff(before, snapshot(locked))
    record_audit(f"{_label(locked)}.update", actor=actor, obj=locked, changes=changes)
    if event and changes:
        record_event(
            f"{locked._meta.model_name}.updated",
            organization=locked.organization,
            site=_site_of(locked) if model._meta.label != "tenancy.Site" else locked,
            payload={"id": locked.pk, "repr": str(locked), "fields": sorted(changes)},
        )
    return locked


@transaction.atomic
def delete_object(instance, *, actor, event=True, system=False):
    """Delete ``instance`` after checking ``actor`` may; the audit entry keeps its last state."""
    model = type(instance)
    if not system:
        ensure_permitted(actor, "delete", instance)
    locked = model._default_manager.select_for_update().get(pk=instance.pk)
    before = snapshot(locked)
    organization = locked.organization
    pk, text = locked.pk, str(locked)
    record_audit(
        f"{_label(locked)}.delete",
        actor=actor,
        obj=locked,
        organization=organization,
        changes={"before": before},
    )
    locked.delete()
    if event:
        record_event(
            f"{model._meta.model_name}.deleted",
            organization=organization,
            payload={"id": pk, "repr": text},
        )
    return pk
