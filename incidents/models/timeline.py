"""The incident timeline: ordered, append-only. Corrections are new entries."""

from django.conf import settings
from django.db import models

from encompass.tenancy.models import TenantModel

from ..choices import TimelineKind
from .incident import READERS, RESPONDER_ROLES


class ImmutableEntry(Exception):
    """A timeline entry was about to be changed or deleted."""


class TimelineEntry(TenantModel):
    """One thing that happened in an incident, by whom and when; never edited after writing."""

    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.CASCADE, related_name="timeline"
    )
    kind = models.CharField(max_length=20, choices=TimelineKind.choices)
    at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=200)
    text = models.TextField()
    data = models.JSONField(default=dict, blank=True)
    corrects = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="corrections"
    )

    role_permissions = {
        "view": READERS,
        "add": RESPONDER_ROLES,
        "change": frozenset(),
        "delete": frozenset(),
    }

    class Meta:
        ordering = ["at", "pk"]
        verbose_name_plural = "timeline entries"
        indexes = [models.Index(fields=["incident", "at", "id"])]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.get_kind_display()}: {self.text[:60]}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise ImmutableEntry("Timeline entries are immutable; add a correction instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableEntry("Timeline entries are never deleted.")
