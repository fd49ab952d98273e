"""Writing and verifying the audit trail.

``record_audit`` is called by every service after it writes (and by the sign-in signal handlers,
exports and permission changes). It appends to the organization's chain under a row lock on the
chain head, so concurrent writers serialize on the chain and never fork it.
"""

import datetime
import json

from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from . import context
from .models import PLATFORM_CHAIN, AuditChain, AuditEntry


def actor_label(actor):
    """A stable human-readable name for whoever acted (user, API key, device or job)."""
    if actor is None:
        return "system"
    if isinstance(actor, str):
        return actor
    api_key = getattr(actor, "api_key", None) if hasattr(actor, "_meta") else None
    if api_key is not None:
        return f"api-key:{api_key.prefix}"
    if getattr(actor, "_meta", None) and actor._meta.label == "devices.Device":
        return f"device:{actor.uid}"
    return getattr(actor, "get_username", lambda: str(actor))()


def user_or_none(actor):
    """The acting ``User`` (staff or an API key service user); ``None`` for devices and jobs."""
    return actor if getattr(actor, "_meta", None) and actor._meta.label == "auth.User" else None


def _normalize(value):
    """JSON round trip so the stored value hashes the same after it is read back."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def snapshot(obj, fields=None):
    """A JSON-safe dict of a model instance's concrete fields, minus its ``audit_exclude``."""
    exclude = set(getattr(obj, "audit_exclude", ()))
    data = {}
    for f in obj._meta.concrete_fields:
        if f.name in exclude or (fields is not None and f.name not in fields):
            continue
        value = getattr(obj, f.attname)
        if isinstance(value, (datetime.datetime, datetime.date)):
            value = value.isoformat()
        elif isinstance(value, bytes | memoryview):
            value = f"<{len(bytes(value))} bytes>"
        elif f.get_internal_type() in {"FileField", "ImageField"}:
            value = str(value) if value else ""
        data[f.name] = value
    return _normalize(data)


def diff(before, after):
    """Only the fields that changed, as ``{field: [before, after]}``."""
    keys = set(before) | set(after)
    return {k: [before.get(k), after.get(k)] for k in sorted(keys) if before.get(k) != after.get(k)}


def _organization_of(obj):
    if obj is None:
        return None
    org = getattr(obj, "organization", None)
    return org


@transaction.atomic
def record_audit(action, *, actor, obj=None, organization=None, changes=None, object_repr=None):
    """Append one entry to the organization's (or the platform's) chain and return it."""
    if organization is None:
        organization = _organization_of(obj)
    key = str(organization.pk) if organization is not None else PLATFORM_CHAIN
    AuditChain.objects.get_or_create(key=key)
    head = AuditChain.objects.select_for_update().get(key=key)
    ctx = context.current()
    user = user_or_none(actor)
    entry = AuditEntry(
        chain=key,
        sequence=head.last_sequence + 1,
        organization=organization,
        created_at=timezone.now(),
        actor=user,
        actor_label=actor_label(actor)[:200],
        action=action,
        object_type=obj._meta.label if isinstance(obj, Model) else "",
        object_id=str(obj.pk) if isinstance(obj, Model) and obj.pk is not None else "",
        object_repr=(object_repr if object_repr is not None else (str(obj) if obj else ""))[:300],
        changes=_normalize(changes or {}),
        ip=ctx.ip,
        user_agent=ctx.user_agent,
        request_id=ctx.request_id,
        channel=ctx.channel,
        api_key_id=ctx.api_key_id,
        prev_hash=head.last_hash,
    )
    entry.entry_hash = entry.compute_hash()
    entry.save()
    head.last_sequence = entry.sequence
    head.last_hash = entry.entry_hash
    head.save(update_fields=["last_sequence", "last_hash"])
    return entry


# Verification lives in its own module; these names stay importable from here.
from .verification import ChainReport, verify_all, verify_chain  # noqa: E402, F401
