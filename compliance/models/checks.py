"""Stored runs of the automated checks: each one a snapshot an auditor can read later.

A run keeps what every page reads (pass / fail, counts, failing counts per site and device type,
a capped sample of the failing items) in one small row; the full list of failing items is kept as
indexed ``CheckFinding`` rows that pages read a page at a time.
"""

from django.db import models

from encompass.tenancy.models import RestrictedManager, TenantModel
from encompass.tenancy.roles import ALL_ROLES

# How many failing items a run carries inline (the rest are CheckFinding rows only).
FAILING_SAMPLE = 25

READ_ONLY = {
    "view": ALL_ROLES,
    "add": frozenset(),
    "change": frozenset(),
    "delete": frozenset(),
}


class CheckRun(TenantModel):
    """One run of one automated check over one organization's fleet."""

    check_code = models.CharField(max_length=60, db_index=True)
    # None: the check could not apply (e.g. the app it reads is not installed).
    passed = models.BooleanField(null=True)
    applicable = models.BooleanField(default=True)
    summary = models.CharField(max_length=500)
    failing_count = models.PositiveIntegerField(default=0)
    checked_count = models.PositiveIntegerField(default=0)
    # The first FAILING_SAMPLE failing items, in the shape of CheckFinding.as_row():
    # {"id", "uid", "name", "site", "device_type", "reason"} (devices) or other subjects.
    failing = models.JSONField(default=list, blank=True)
    # Failing devices per scope: [[site id | null, device type id | null, count], ...] -- what an
    # assessment's (or a site's) verdict is computed from, bounded by sites x device types.
    scope_counts = models.JSONField(default=list, blank=True)
    # Whether the run's CheckFinding rows are still kept (retention drops them for old runs).
    findings_kept = models.BooleanField(default=True)
    measured = models.JSONField(default=dict, blank=True)
    ran_at = models.DateTimeField(db_index=True)
    ran_by = models.CharField(max_length=200)
    duration_ms = models.PositiveIntegerField(default=0)

    role_permissions = READ_ONLY

    class Meta:
        ordering = ["-ran_at", "-pk"]
        indexes = [models.Index(fields=["organization", "check_code", "-ran_at"])]

    def __str__(self):
        state = "n/a" if self.passed is None else ("pass" if self.passed else "fail")
        return f"{self.check_code} {state} @ {self.ran_at:%Y-%m-%d %H:%M}"

    @property
    def failing_truncated(self):
        return self.failing_count > len(self.failing or ())

    def failing_in_scope(self, site_ids=(), type_ids=()):
        """How many failing devices fall in a scope (empty sets: every site / type)."""
        return sum(
            n
            for site, dtype, n in self.scope_counts or ()
            if (not site_ids or site in site_ids) and (not type_ids or dtype in type_ids)
        )


class CheckFinding(models.Model):
    """One failing item of one check run: a device, a member, an incident, a problem ..."""

    # One index only besides the key, (run, site, device_type): every read names the run, and a
    # run can write 100,000 rows, so each extra index is paid on every check run.
    run = models.ForeignKey(
        CheckRun, on_delete=models.CASCADE, related_name="findings", db_index=False
    )
    # The run already ties the row to its organization (kept for restrict()): no per-row check.
    organization = models.ForeignKey(
        "tenancy.Organization",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    # device, user, incident, mitigation, authority, problem
    kind = models.CharField(max_length=20)
    object_id = models.BigIntegerField(null=True, blank=True)
    # Plain references (no constraint): a finding is a snapshot and outlives what it names.
    site = models.ForeignKey(
        "tenancy.Site",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    device_type = models.ForeignKey(
        "devices.DeviceType",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    uid = models.CharField(max_length=100, blank=True)
    label = models.CharField(max_length=300, blank=True)
    reason = models.TextField(blank=True)

    objects = RestrictedManager()

    tenant_lookup = "organization"
    site_lookup = "site"
    role_permissions = READ_ONLY

    class Meta:
        ordering = ["run", "pk"]
        indexes = [
            models.Index(fields=["run", "site", "device_type"], name="compliance_finding_scope"),
        ]

    def __str__(self):
        return f"{self.label or self.kind}: {self.reason}"

    def as_row(self):
        """The shape the checks produced before findings were rows (the API's ``failing``)."""
        if self.kind == "device":
            return {
                "id": self.object_id,
                "uid": self.uid,
                "name": self.label,
                "site": self.site_id,
                "device_type": self.device_type_id,
                "reason": self.reason,
            }
        if self.kind == "problem":
            return {"problem": self.reason}
        return {self.kind: self.object_id, "name": self.label, "reason": self.reason}
