"""Gateway tokens (hawkBit's ``GatewayToken``): create and revoke, audited."""

import secrets

from django.db import transaction
from django.utils import timezone

from encompass.audit.services import record_audit
from encompass.exceptions import ValidationError
from encompass.tenancy.access import ensure_can_create, ensure_permitted
from encompass.tenancy.models.apikey import hash_secret

from ..models import GatewayToken
from ..models.ddi import GATEWAY_TOKEN_PREFIX
from ..services.common import user_or_none


@transaction.atomic
def create_gateway_token(*, organization, name, actor):
    """A new gateway token; returns ``(row, plaintext)`` -- the plaintext is shown only now."""
    ensure_can_create(actor, GatewayToken, organization)
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Name the gateway (or gateway fleet) this token is for."})
    if GatewayToken.objects.filter(organization=organization, name=name).exists():
        raise ValidationError({"name": "A gateway token with this name already exists."})
    prefix = secrets.token_hex(4)
    token = f"{GATEWAY_TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    row = GatewayToken.objects.create(
        organization=organization,
        name=name,
        prefix=prefix,
        token_hash=hash_secret(token),
        created_by=user_or_none(actor),
    )
    record_audit(
        "firmware.gatewaytoken.create",
        actor=actor,
        obj=row,
        changes={"name": name, "prefix": prefix},
    )
    return row, token


@transaction.atomic
def revoke_gateway_token(token, *, actor, reason):
    """Stop a gateway token from working, for good."""
    ensure_permitted(actor, "revoke", token)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the token is revoked."})
    locked = GatewayToken.objects.select_for_update().get(pk=token.pk)
    if locked.revoked_at is not None:
        return locked
    locked.revoked_at = timezone.now()
    locked.revoked_reason = reason[:300]
    locked.save(update_fields=["revoked_at", "revoked_reason", "updated_at"])
    record_audit(
        "firmware.gatewaytoken.revoke", actor=actor, obj=locked, changes={"reason": reason}
    )
    return locked
