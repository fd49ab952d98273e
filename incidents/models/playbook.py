"""Playbooks (templates per category with tasks per phase) and the tasks of an incident."""

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models

from encompass.tenancy.models import TenantModel
from encompass.tenancy.roles import Role

from ..choices import Category, Phase
from .incident import READERS, RESPONDER_ROLES, RUNNERS


class Playbook(TenantModel):
    """A response plan for one category of incident; shipped ones are loaded from data files."""

    slug = models.SlugField(max_length=80)
    name = models.CharField(max_length=200)
    category = models.CharField(max_length=32, choices=Category.choices)
    description = models.TextField(blank=True)
    version = models.PositiveIntegerField(default=1)
    shipped = models.BooleanField(
        default=False, editable=False, help_text="Loaded from incidents/playbooks/*.json."
    )

    role_permissions = {"view": READERS, "add": RUNNERS, "change": RUNNERS, "delete": RUNNERS}

    class Meta:
        ordering = ["category", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "slug"], name="playbook_slug_per_org"),
        ]

    def __str__(self):
        return self.name


class PlaybookTask(TenantModel):
    """One step of a playbook, in a phase, owned by a role, due an offset after declaration."""

    playbook = models.ForeignKey(Playbook, on_delete=models.CASCADE, related_name="tasks")
    phase = models.CharField(max_length=20, choices=Phase.choices)
    order = models.PositiveIntegerField(default=0)
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    owner_role = models.CharField(max_length=32, choices=Role.choices, blank=True)
    due_after_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(365 * 24 * 60)],
        help_text="Due this long after the task is added to an incident.",
    )

    role_permissions = {"view": READERS, "add": RUNNERS, "change": RUNNERS, "delete": RUNNERS}

    class Meta:
        ordering = ["playbook", "order", "pk"]

    def __str__(self):
        return self.title


class IncidentTask(TenantModel):
    """Something a responder must do for an incident (from a playbook or added by hand)."""

    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.CASCADE, related_name="tasks"
    )
    phase = models.CharField(max_length=20, choices=Phase.choices)
    order = models.PositiveIntegerField(default=0)
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    owner_role = models.CharField(max_length=32, choices=Role.choices, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    done = models.BooleanField(default=False, editable=False)
    done_at = models.DateTimeField(null=True, blank=True, editable=False)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    playbook_task = models.ForeignKey(
        PlaybookTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    tenant_lookup = "organization"
    role_permissions = {
        "view": READERS,
        "add": RESPONDER_ROLES,
        "change": RESPONDER_ROLES,
        "delete": RUNNERS,
    }

    class Meta:
        ordering = ["incident", "phase", "order", "pk"]

    def __str__(self):
        return self.title
