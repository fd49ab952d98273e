"""Treatment plans: the mitigations that bring a risk down, with owners and due dates."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from encompass.exceptions import ValidationError
from encompass.tenancy.models import RestrictedQuerySet, TenantModel

from ..choices import MITIGATION_OPEN, MitigationStatus
from .common import MITIGATION_PERMISSIONS


class MitigationQuerySet(RestrictedQuerySet):
    def overdue(self, today=None):
        return self.filter(status__in=MITIGATION_OPEN, due_on__lt=today or timezone.localdate())


class Mitigation(TenantModel):
    """One action of a risk's treatment plan."""

    risk = models.ForeignKey("risk.Risk", on_delete=models.CASCADE, related_name="mitigations")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    due_on = models.DateField(null=True, blank=True)
    status = models.CharField(
        max_length=12,
        choices=MitigationStatus.choices,
        default=MitigationStatus.PLANNED,
        editable=False,
    )
    done_at = models.DateTimeField(null=True, blank=True, editable=False)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    status_note = models.TextField(blank=True, editable=False)
    devices = models.ManyToManyField("devices.Device", blank=True, related_name="+")
    requirement_refs = models.JSONField(
        default=list,
        blank=True,
        help_text='Compliance requirements it addresses, as "framework:ref" '
        '(e.g. "etsi-en-303-645:5.3-2").',
    )

    objects = models.Manager.from_queryset(MitigationQuerySet)()

    role_permissions = MITIGATION_PERMISSIONS

    class Meta:
        ordering = ["due_on", "pk"]
        indexes = [models.Index(fields=["organization", "status", "due_on"])]

    def __str__(self):
        return self.title

    def clean(self):
        from ..requirements import requirement_ref_errors

        errors = requirement_ref_errors(self.requirement_refs)
        if errors:
            raise ValidationError({"requirement_refs": errors})

    @property
    def overdue(self):
        return (
            self.status in MITIGATION_OPEN
            and self.due_on is not None
            and self.due_on < timezone.localdate()
        )
