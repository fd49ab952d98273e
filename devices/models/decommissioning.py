"""The decommissioning checklist: what was done to retire a device, by whom and when."""

from django.conf import settings
from django.db import models

from encompass.tenancy.models import TenantModel
from encompass.tenancy.roles import ALL_ROLES

from ..choices import (
    ITEMS_BEFORE_DECOMMISSIONED,
    ChecklistItem,
    DisposalMethod,
    RetentionDecision,
    WipeMethod,
)


def _who():
    return models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )


class DecommissioningChecklist(TenantModel):
    """One per device, created when it enters decommissioning; each item records who and when.

    Written only by ``devices.decommissioning`` services. ``*_label`` keeps the actor's name even
    for API keys and jobs (and after a user is deleted).
    """

    device = models.OneToOneField(
        "devices.Device", on_delete=models.CASCADE, related_name="decommissioning"
    )
    started_by_label = models.CharField(max_length=200)
    reason = models.TextField(blank=True)

    # 1. Credentials and certificates revoked.
    credentials_revoked_at = models.DateTimeField(null=True, blank=True)
    credentials_revoked_by = _who()
    credentials_revoked_by_label = models.CharField(max_length=200, blank=True)
    credentials_revoked_count = models.PositiveIntegerField(default=0)

    # 2. Removed from rollouts.
    rollouts_removed_at = models.DateTimeField(null=True, blank=True)
    rollouts_removed_by = _who()
    rollouts_removed_by_label = models.CharField(max_length=200, blank=True)
    rollouts_removed_count = models.PositiveIntegerField(default=0)

    # 3. Data wiped: the person who did it attests to it; the recorder may be someone else.
    data_wiped_at = models.DateTimeField(null=True, blank=True, help_text="When it was recorded.")
    data_wiped_on = models.DateField(null=True, blank=True, help_text="When the wipe was done.")
    wipe_method = models.CharField(max_length=32, choices=WipeMethod.choices, blank=True)
    wipe_attested_by = models.CharField(
        max_length=200, blank=True, help_text="Who performed the wipe and vouches for it."
    )
    wipe_notes = models.TextField(blank=True)
    data_wipe_recorded_by = _who()
    data_wipe_recorded_by_label = models.CharField(max_length=200, blank=True)

    # 4. Data retention decision, carried out on the device's telemetry and logs.
    retention_decision = models.CharField(
        max_length=16, choices=RetentionDecision.choices, blank=True
    )
    retention_decided_at = models.DateTimeField(null=True, blank=True)
    retention_decided_by = _who()
    retention_decided_by_label = models.CharField(max_length=200, blank=True)
    retention_justification = models.TextField(blank=True)
    retention_events_affected = models.PositiveIntegerField(default=0)

    # 5. Physical disposal.
    disposal_recorded_at = models.DateTimeField(null=True, blank=True)
    disposed_on = models.DateField(null=True, blank=True)
    disposal_method = models.CharField(max_length=16, choices=DisposalMethod.choices, blank=True)
    disposal_certificate_reference = models.CharField(
        max_length=200, blank=True, help_text="Certificate of destruction / recycling reference."
    )
    disposal_handled_by = models.CharField(
        max_length=200, blank=True, help_text="Company or person that took the device."
    )
    disposal_notes = models.TextField(blank=True)
    disposal_recorded_by = _who()
    disposal_recorded_by_label = models.CharField(max_length=200, blank=True)

    site_lookup = "device__site"
    role_permissions = {"view": ALL_ROLES}

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Decommissioning of {self.device}"

    # --- what is done ----------------------------------------------------------------------------

    def done_at(self, item):
        return {
            ChecklistItem.CREDENTIALS: self.credentials_revoked_at,
            ChecklistItem.ROLLOUTS: self.rollouts_removed_at,
            ChecklistItem.DATA_WIPE: self.data_wiped_at,
            ChecklistItem.RETENTION: self.retention_decided_at,
            ChecklistItem.DISPOSAL: self.disposal_recorded_at,
        }[ChecklistItem(item)]

    def is_done(self, item):
        return self.done_at(item) is not None

    def missing(self, items=None):
        """The items (of ``items``, default all) not done yet, in checklist order."""
        wanted = list(ChecklistItem) if items is None else [ChecklistItem(i) for i in items]
        return [item for item in wanted if not self.is_done(item)]

    @property
    def ready_for_decommissioned(self):
        return not self.missing(ITEMS_BEFORE_DECOMMISSIONED)

    @property
    def complete(self):
        return not self.missing()

    def summary(self, item):
        """One line saying what was done for ``item`` (for timelines, admin and reports)."""
        item = ChecklistItem(item)
        if not self.is_done(item):
            return ""
        if item == ChecklistItem.CREDENTIALS:
            return (
                f"{self.credentials_revoked_count} credential(s) revoked by "
                f"{self.credentials_revoked_by_label}"
            )
        if item == ChecklistItem.ROLLOUTS:
            return (
                f"removed from {self.rollouts_removed_count} rollout(s) by "
                f"{self.rollouts_removed_by_label}"
            )
        if item == ChecklistItem.DATA_WIPE:
            return (
                f"{self.get_wipe_method_display()} on {self.data_wiped_on:%Y-%m-%d}, attested by "
                f"{self.wipe_attested_by} (recorded by {self.data_wipe_recorded_by_label})"
            )
        if item == ChecklistItem.RETENTION:
            return (
                f"{self.get_retention_decision_display()} ({self.retention_events_affected} "
                f"event(s) affected), decided by {self.retention_decided_by_label}"
            )
        return (
            f"{self.get_disposal_method_display()} on {self.disposed_on:%Y-%m-%d} by "
            f"{self.disposal_handled_by}, certificate {self.disposal_certificate_reference} "
            f"(recorded by {self.disposal_recorded_by_label})"
        )

    def items(self):
        """``[{key, label, done, done_at, summary}]`` in checklist order."""
        return [
            {
                "key": item.value,
                "label": item.label,
                "done": self.is_done(item),
                "done_at": self.done_at(item),
                "summary": self.summary(item),
            }
            for item in ChecklistItem
        ]
