"""Evidence: an uploaded file, a link, or the latest result of an automated check."""

import os

from django.conf import settings
from django.db import models
from django.utils import timezone

from encompass.tenancy.models import TenantModel
from encompass.tenancy.roles import ALL_ROLES

from ..choices import EVIDENCE_WRITERS, SECURITY, EvidenceKind


def evidence_upload_to(instance, filename):
    # The stored name is the content hash: no user-chosen path reaches the file system.
    ext = os.path.splitext(filename)[1].lower()[:10]
    digest = instance.sha256
    return f"compliance/evidence/{instance.organization_id}/{digest[:2]}/{digest}{ext}"


class Evidence(TenantModel):
    """Something that shows a requirement is met, valid until ``valid_until`` (empty: no expiry)."""

    kind = models.CharField(max_length=12, choices=EvidenceKind.choices)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # Where it applies: requirements (and, through mappings, the requirements they meet).
    requirements = models.ManyToManyField(
        "compliance.Requirement", blank=True, related_name="evidence"
    )
    # Empty: serves every assessment of the organization; set: only this one.
    assessment = models.ForeignKey(
        "compliance.Assessment",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="evidence",
    )
    file = models.FileField(upload_to=evidence_upload_to, blank=True, max_length=300)
    original_name = models.CharField(max_length=255, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    size = models.PositiveBigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    url = models.URLField(max_length=1000, blank=True)
    check_code = models.CharField(max_length=60, blank=True)
    check_run = models.ForeignKey(
        "compliance.CheckRun",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    collected_at = models.DateTimeField(default=timezone.now)
    valid_until = models.DateTimeField(null=True, blank=True)
    # When the expiry alert was raised (so the job raises it once per expiry).
    expiry_flagged_at = models.DateTimeField(null=True, blank=True, editable=False)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )

    role_permissions = {
        "view": ALL_ROLES,
        "add": EVIDENCE_WRITERS,
        "change": EVIDENCE_WRITERS,
        "delete": SECURITY,
    }
    audit_exclude = ()

    class Meta:
        ordering = ["-collected_at", "-pk"]
        verbose_name_plural = "evidence"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "check_code"],
                condition=models.Q(kind="check_result"),
                name="one_check_evidence_per_check",
            ),
        ]

    def __str__(self):
        return self.title

    def is_current(self, at=None):
        return self.valid_until is None or self.valid_until > (at or timezone.now())

    @property
    def expired(self):
        return not self.is_current()
