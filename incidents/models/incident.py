"""Incidents, and the object permission that pulls a responder in from outside the tenant."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from guardian.models import UserObjectPermissionBase

from encompass.tenancy.access import access_q
from encompass.tenancy.models import RestrictedQuerySet, TenantModel
from encompass.tenancy.roles import Role

from ..choices import PHASE_CSF, Category, IncidentSeverity, Phase

RUNNERS = frozenset({Role.ADMIN, Role.SECURITY_OFFICER})
RESPONDER_ROLES = RUNNERS | {Role.OPERATOR}
READERS = RESPONDER_ROLES | {Role.AUDITOR}
RESPOND_PERMISSION = "respond_incident"
# What a per-incident grant (a responder from elsewhere) allows on that one incident.
GRANT_ACTIONS = frozenset({"view", "respond"})


class IncidentQuerySet(RestrictedQuerySet):
    """``restrict()`` by membership role, OR'd with per-incident responder grants (guardian)."""

    def restrict(self, user, action="view"):
        q = access_q(user, self.model, action)
        if (
            action in GRANT_ACTIONS
            and user is not None
            and getattr(user, "is_authenticated", False)
        ):
            granted = IncidentUserObjectPermission.objects.filter(
                user=user, permission__codename=RESPOND_PERMISSION
            ).values("content_object_id")
            grant_q = Q(pk__in=granted)
            q = grant_q if q is None else (q | grant_q)
        if q is None:
            return self.none()
        return self.filter(q)


class Incident(TenantModel):
    """Something that went wrong, worked from detection to closed by responders."""

    number = models.PositiveIntegerField(editable=False)
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    severity = models.CharField(max_length=10, choices=IncidentSeverity.choices)
    category = models.CharField(max_length=32, choices=Category.choices, default=Category.OTHER)
    phase = models.CharField(
        max_length=20, choices=Phase.choices, default=Phase.DETECTION, editable=False
    )
    affected_devices = models.ManyToManyField(
        "devices.Device", blank=True, related_name="incidents"
    )
    affected_sites = models.ManyToManyField("tenancy.Site", blank=True, related_name="incidents")
    source_alerts = models.ManyToManyField("monitoring.Alert", blank=True, related_name="incidents")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_incidents",
        editable=False,
    )
    responders = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="incidents_responding"
    )
    playbook = models.ForeignKey(
        "incidents.Playbook",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="incidents",
        editable=False,
    )
    escalation_rule = models.ForeignKey(
        "incidents.EscalationRule",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="incidents",
        editable=False,
    )
    external_reference = models.CharField(
        max_length=200, blank=True, help_text="A ticket in another system, e.g. JIRA SEC-123."
    )
    detected_at = models.DateTimeField(help_text="When the first signal was seen.")
    declared_at = models.DateTimeField(editable=False)
    acknowledged_at = models.DateTimeField(null=True, blank=True, editable=False)
    contained_at = models.DateTimeField(null=True, blank=True, editable=False)
    resolved_at = models.DateTimeField(null=True, blank=True, editable=False)
    closed_at = models.DateTimeField(null=True, blank=True, editable=False)
    phase_changed_at = models.DateTimeField(editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )

    objects = IncidentQuerySet.as_manager()

    role_permissions = {
        "view": READERS,
        "add": RUNNERS,
        "change": RUNNERS,
        "delete": frozenset(),  # incidents are records: closed, never deleted
        "phase": RUNNERS,
        "assign": RUNNERS,
        "contain": RUNNERS,
        "review": RUNNERS,
        "respond": RESPONDER_ROLES,  # notes, tasks
        "export": READERS,
    }

    class Meta:
        ordering = ["-declared_at", "-pk"]
        permissions = [(RESPOND_PERMISSION, "Work this incident as a responder")]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "number"], name="incident_number_per_org"
            ),
        ]
        indexes = [models.Index(fields=["organization", "phase"])]

    def __str__(self):
        return f"{self.reference} {self.title}"

    @property
    def reference(self):
        return f"INC-{self.number:04d}" if self.number else "INC-new"

    @property
    def csf_categories(self):
        return PHASE_CSF[Phase(self.phase)]

    @property
    def is_open(self):
        return self.phase != Phase.CLOSED


class IncidentUserObjectPermission(UserObjectPermissionBase):
    """A per-incident grant: a responder pulled in from elsewhere works this one incident."""

    content_object = models.ForeignKey(Incident, on_delete=models.CASCADE)
