"""The tamper-evident audit trail: append-only, hash-chained per organization."""

import hashlib
import json

from django.conf import settings
from django.db import models

from encompass.tenancy.models import RestrictedManager, RestrictedQuerySet
from encompass.tenancy.roles import Role

PLATFORM_CHAIN = "platform"


class AuditQuerySet(RestrictedQuerySet):
    def update(self, **kwargs):
        raise TypeError("Audit entries are append-only")

    def delete(self):
        raise TypeError("Audit entries are append-only")


class AuditChain(models.Model):
    """The head of one organization's chain (locked while an entry is appended)."""

    key = models.CharField(max_length=64, primary_key=True)
    last_sequence = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self):
        return f"{self.key} @ {self.last_sequence}"


class AuditCheckpoint(models.Model):
    """The last entry of one chain a verification walked and found intact (and its hash).

    Incremental verification starts here; a full verification also checks that the chain still
    passes through this hash, so a rewrite of older entries is caught.
    """

    chain = models.CharField(max_length=64, primary_key=True)
    sequence = models.BigIntegerField()
    entry_hash = models.CharField(max_length=64)
    verified_at = models.DateTimeField()
    full = models.BooleanField(default=False, help_text="Whether the walk began at entry #1.")

    def __str__(self):
        return f"{self.chain} verified to #{self.sequence}"


class AuditEntry(models.Model):
    """One recorded action: who did what to which object, when, from where, before and after."""

    chain = models.CharField(max_length=64, db_index=True, editable=False)
    sequence = models.BigIntegerField(editable=False)
    organization = models.ForeignKey(
        "tenancy.Organization",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audit_entries",
    )
    created_at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=200)
    action = models.CharField(max_length=100, db_index=True)
    object_type = models.CharField(max_length=100, blank=True, db_index=True)
    object_id = models.CharField(max_length=64, blank=True, db_index=True)
    object_repr = models.CharField(max_length=300, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    channel = models.CharField(max_length=20, blank=True)
    api_key_id = models.BigIntegerField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64, unique=True)

    objects = RestrictedManager.from_queryset(AuditQuerySet)()

    tenant_lookup = "organization"
    site_lookup = None
    role_permissions = {
        "view": frozenset({Role.ADMIN, Role.SECURITY_OFFICER, Role.AUDITOR}),
        "export": frozenset({Role.ADMIN, Role.SECURITY_OFFICER, Role.AUDITOR}),
    }

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "audit entries"
        constraints = [
            models.UniqueConstraint(fields=["chain", "sequence"], name="audit_chain_sequence"),
        ]
        indexes = [models.Index(fields=["organization", "-created_at"])]

    def __str__(self):
        return f"#{self.sequence} {self.action} by {self.actor_label}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("Audit entries are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("Audit entries are append-only")

    def hashed_fields(self):
        return {
            "chain": self.chain,
            "sequence": self.sequence,
            "organization": self.organization_id,
            "created_at": self.created_at.isoformat(timespec="microseconds"),
            "actor": self.actor_label,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "object_repr": self.object_repr,
            "changes": self.changes,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "request_id": self.request_id,
            "channel": self.channel,
            "api_key_id": self.api_key_id,
            "prev_hash": self.prev_hash,
        }

    def compute_hash(self):
        canonical = json.dumps(
            self.hashed_fields(), sort_keys=True, separators=(",", ":"), default=str
        )
        return hashlib.sha256(canonical.encode()).hexdigest()
