"""Stored runs of the automated checks: each one a snapshot an auditor can read later."""

from django.db import models

from encompass.tenancy.models import TenantModel
from encompass.tenancy.roles import ALL_ROLES


class CheckRun(TenantModel):
    """One run of one automated check over one organization's fleet."""

    check_code = models.CharField(max_length=60, db_index=True)
    # None: the check could not apply (e.g. the app it reads is not installed).
    passed = models.BooleanField(null=True)
    applicable = models.BooleanField(default=True)
    summary = models.CharField(max_length=500)
    failing_count = models.PositiveIntegerField(default=0)
    checked_count = models.PositiveIntegerField(default=0)
    # [{"id", "uid", "name", "site", "device_type", "reason"}] (devices) or other subjects.
    failing = models.JSONField(default=list, blank=True)
    measured = models.JSONField(default=dict, blank=True)
    ran_at = models.DateTimeField(db_index=True)
    ran_by = models.CharField(max_length=200)
    duration_ms = models.PositiveIntegerField(default=0)

    role_permissions = {
        "view": ALL_ROLES,
        "add": frozenset(),
        "change": frozenset(),
        "delete": frozenset(),
    }

    class Meta:
        ordering = ["-ran_at", "-pk"]
        indexes = [models.Index(fields=["organization", "check_code", "-ran_at"])]

    def __str__(self):
        state = "n/a" if self.passed is None else ("pass" if self.passed else "fail")
        return f"{self.check_code} {state} @ {self.ran_at:%Y-%m-%d %H:%M}"
