from django.http import HttpResponse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, status, viewsets
from rest_framework import serializers as drf
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from encompass.api.serializers import TenantSerializer
from encompass.api.viewsets import RestrictedViewSetMixin, TenantReadOnlyViewSet, TenantViewSet
from encompass.tenancy.models import ApiKey

from .. import services
from ..models import (
    ContainmentAction,
    EscalationRule,
    Incident,
    IncidentTask,
    Playbook,
    PlaybookTask,
    SlaBreach,
    SlaPolicy,
    TimelineEntry,
)
from ..services import reports
from . import serializers as s


def _visible(model, user, pks, field, action="view"):
    """Rows of ``model`` the user can see, or a 404 naming the field (missing == forbidden)."""
    pks = list(dict.fromkeys(pks))
    rows = list(model.objects.restrict(user, action).filter(pk__in=pks))
    if len(rows) != len(pks):
        raise NotFound({field: f"Some {field} do not exist."})
    return rows


class IncidentViewSet(
    RestrictedViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Incidents: declare, edit, move through phases, contain, escalate alerts, review, report."""

    queryset = Incident.objects.select_related(
        "organization", "assignee", "playbook"
    ).prefetch_related("responders", "affected_devices", "affected_sites", "source_alerts")
    serializer_class = s.IncidentSerializer
    filterset_fields = ["organization", "phase", "severity", "category"]
    search_fields = ["title", "description", "external_reference"]
    object_action = None

    def get_serializer_class(self):
        if self.action == "retrieve":
            return s.IncidentDetailSerializer
        return super().get_serializer_class()

    def get_queryset(self):
        qs = super().get_queryset()
        if self.action == "retrieve":
            qs = qs.prefetch_related("timeline", "containment_actions").select_related("review")
        return qs

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        devices = data.pop("affected_devices", [])
        sites = data.pop("affected_sites", [])
        serializer.instance = services.declare_incident(
            actor=self.request.user, devices=devices, sites=sites, **data
        )

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("organization", None)
        data.pop("detected_at", None)
        devices = data.pop("affected_devices", None)
        sites = data.pop("affected_sites", None)
        serializer.instance = services.update_incident(
            serializer.instance, data, actor=self.request.user, devices=devices, sites=sites
        )

    def _answer(self, incident):
        incident = self.get_queryset().get(pk=incident.pk)
        return Response(s.IncidentSerializer(incident, context=self.get_serializer_context()).data)

    @extend_schema(request=s.PhaseSerializer, responses=s.IncidentSerializer)
    @action(detail=True, methods=["post"], object_action="view")
    def phase(self, request, pk=None):
        """Move the incident to another phase (guards apply; a backward move needs a note)."""
        body = s.PhaseSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        incident = services.change_phase(
            self.get_object(),
            body.validated_data["to"],
            actor=request.user,
            note=body.validated_data["note"],
        )
        return self._answer(incident)

    @extend_schema(request=s.NoteSerializer, responses=s.IncidentSerializer)
    @action(detail=True, methods=["post"], url_path="record-containment", object_action="view")
    def record_containment(self, request, pk=None):
        note = request.data.get("note", "") if hasattr(request.data, "get") else ""
        return self._answer(
            services.record_containment(self.get_object(), actor=request.user, note=note)
        )

    def _with_user(self, request, func, *, required=True):
        body = s.UserRefSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        user = body.validated_data["user"]
        if user is None and required:
            return Response({"user": ["Choose a user."]}, status=400)
        return self._answer(func(self.get_object(), user, actor=request.user))

    @extend_schema(request=s.UserRefSerializer, responses=s.IncidentSerializer)
    @action(detail=True, methods=["post"], object_action="view")
    def assign(self, request, pk=None):
        """Make a user the assignee (``null`` unassigns)."""
        return self._with_user(request, services.assign_incident, required=False)

    @extend_schema(request=s.UserRefSerializer, responses=s.IncidentSerializer)
    @action(detail=True, methods=["post"], object_action="view")
    def responders(self, request, pk=None):
        """Add a responder; someone outside the organization gets access to this incident only."""
        return self._with_user(request, services.add_responder)

    @extend_schema(request=s.UserRefSerializer, responses=s.IncidentSerializer)
    @action(detail=True, methods=["post"], url_path="remove-responder", object_action="view")
    def remove_responder(self, request, pk=None):
        return self._with_user(request, services.remove_responder)

    @extend_schema(request=s.NoteSerializer, responses={201: s.TimelineEntrySerializer})
    @action(detail=True, methods=["post"], object_action="view")
    def notes(self, request, pk=None):
        body = s.NoteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        entry = services.add_note(
            self.get_object(),
            body.validated_data["text"],
            actor=request.user,
            corrects=body.validated_data.get("corrects"),
        )
        return Response(s.TimelineEntrySerializer(entry).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=s.TimelineEntrySerializer(many=True))
    @action(detail=True, methods=["get"], object_action="view")
    def timeline(self, request, pk=None):
        incident = self.get_object()
        entries = TimelineEntry.objects.filter(incident=incident).order_by("at", "pk")
        return Response(s.TimelineEntrySerializer(entries, many=True).data)

    @extend_schema(request=s.ContainSerializer, responses=s.ContainmentActionSerializer(many=True))
    @action(detail=True, methods=["post"], object_action="view")
    def contain(self, request, pk=None):
        """Act on the fleet: quarantine, revoke_certificates, pause_rollouts, suspend_api_key."""
        body = s.ContainSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        incident = self.get_object()
        from devices.models import Device

        kind, reason = data["kind"], data["reason"]
        if kind == "suspend_api_key":
            if not data.get("api_key"):
                return Response({"api_key": ["Choose the API key to suspend."]}, status=400)
            key = _visible(ApiKey, request.user, [data["api_key"]], "api_key")[0]
            actions = [services.suspend_api_key(incident, key, actor=request.user, reason=reason)]
        else:
            if not data["devices"]:
                return Response({"devices": ["Choose at least one device."]}, status=400)
            devices = _visible(Device, request.user, data["devices"], "devices")
            func = {
                "quarantine": services.quarantine_devices,
                "revoke_certificates": services.revoke_certificates,
                "pause_rollouts": services.pause_rollouts,
            }[kind]
            actions = func(incident, devices, actor=request.user, reason=reason)
        return Response(s.ContainmentActionSerializer(actions, many=True).data, status=201)

    @extend_schema(request=s.EscalateSerializer, responses=s.IncidentSerializer)
    @action(detail=False, methods=["post"])
    def escalate(self, request):
        """Escalate alerts into a new incident, or into ``incident`` when given."""
        from devices.monitoring.models import Alert

        body = s.EscalateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        alerts = _visible(Alert, request.user, data["alerts"], "alerts")
        incident = None
        if data.get("incident"):
            incident = _visible(Incident, request.user, [data["incident"]], "incident")[0]
        kwargs = {k: data[k] for k in ("title", "severity", "category") if data.get(k)}
        result = services.escalate_alerts(alerts, actor=request.user, incident=incident, **kwargs)
        incident = self.get_queryset().get(pk=result.pk)
        return Response(
            s.IncidentSerializer(incident, context=self.get_serializer_context()).data,
            status=201 if data.get("incident") is None else 200,
        )

    @extend_schema(request=s.PlaybookRefSerializer, responses=s.IncidentTaskSerializer(many=True))
    @action(detail=True, methods=["post"], url_path="apply-playbook", object_action="view")
    def apply_playbook(self, request, pk=None):
        body = s.PlaybookRefSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        playbook = _visible(Playbook, request.user, [body.validated_data["playbook"]], "playbook")[
            0
        ]
        tasks = services.apply_playbook(self.get_object(), playbook, actor=request.user)
        return Response(s.IncidentTaskSerializer(tasks, many=True).data, status=201)

    @extend_schema(request=s.ReviewSerializer, responses=s.ReviewSerializer)
    @action(detail=True, methods=["get", "put", "patch"], object_action="view")
    def review(self, request, pk=None):
        """The post-incident review: read, draft/edit (PUT/PATCH)."""
        incident = self.get_object()
        if request.method == "GET":
            review = getattr(incident, "review", None)
            if review is None:
                raise NotFound("No review yet.")
            return Response(s.ReviewSerializer(review).data)
        body = s.ReviewSerializer(data=request.data, partial=request.method == "PATCH")
        body.is_valid(raise_exception=True)
        review = services.save_review(incident, actor=request.user, **body.validated_data)
        return Response(s.ReviewSerializer(review).data)

    @extend_schema(request=None, responses=s.ReviewSerializer)
    @action(detail=True, methods=["post"], url_path="complete-review", object_action="view")
    def complete_review(self, request, pk=None):
        review = services.complete_review(self.get_object(), actor=request.user)
        return Response(s.ReviewSerializer(review).data)

    @extend_schema(request=s.FollowUpSerializer, responses={201: s.FollowUpSerializer})
    @action(detail=True, methods=["post"], url_path="follow-ups", object_action="view")
    def follow_ups(self, request, pk=None):
        body = s.FollowUpSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        item = services.add_follow_up_action(
            self.get_object(), actor=request.user, **body.validated_data
        )
        return Response(s.FollowUpSerializer(item).data, status=201)

    @extend_schema(
        request=s.RiskSerializer,
        responses={
            201: inline_serializer(
                "IncidentRiskLink",
                {"risk": drf.IntegerField(), "title": drf.CharField()},
            )
        },
    )
    @action(detail=True, methods=["post"], object_action="view")
    def risks(self, request, pk=None):
        """Create a risk in the risk register from the review."""
        body = s.RiskSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        link = services.create_risk_from_review(
            self.get_object(), actor=request.user, **body.validated_data
        )
        return Response({"risk": link.risk_id, "title": link.title}, status=201)

    @extend_schema(request=None, responses={(200, "text/html"): str, (200, "text/markdown"): str})
    @action(detail=True, methods=["get"], object_action="view")
    def report(self, request, pk=None):
        """The incident report: ``?as=html`` (default), ``?as=md`` or ``?as=pdf`` (made on the
        server, its SHA-256 in the audit trail); every export is audited."""
        fmt = request.query_params.get("as", "html")
        if fmt not in reports.FORMATS:
            return Response({"as": [f"Choose one of {sorted(reports.FORMATS)}."]}, status=400)
        content, content_type, filename = reports.export_report(
            self.get_object(), fmt, actor=request.user
        )
        response = HttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


class IncidentTaskViewSet(
    RestrictedViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Tasks of incidents: add, mark done, reassign."""

    queryset = IncidentTask.objects.select_related("owner", "incident")
    serializer_class = s.IncidentTaskSerializer
    filterset_fields = ["incident", "phase", "done"]
    object_action = "view"

    def get_queryset(self):
        # Tasks follow their incident's reach (including per-incident responder grants).
        visible = Incident.objects.restrict(self.request.user, "view").values("pk")
        return IncidentTask.objects.select_related("owner", "incident").filter(incident__in=visible)

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        incident = _visible(Incident, self.request.user, [data.pop("incident").pk], "incident")[0]
        data.pop("done", None)
        serializer.instance = services.add_task(incident, actor=self.request.user, **data)

    def perform_update(self, serializer):
        data = serializer.validated_data
        kwargs = {k: data[k] for k in ("owner", "due_at") if k in data}
        serializer.instance = services.update_task(
            serializer.instance, actor=self.request.user, done=data.get("done"), **kwargs
        )


class ContainmentActionViewSet(TenantReadOnlyViewSet):
    queryset = ContainmentAction.objects.select_related("incident")
    serializer_class = s.ContainmentActionSerializer
    filterset_fields = ["incident", "kind"]
    object_action = None

    @extend_schema(request=s.ReasonSerializer, responses=s.ContainmentActionSerializer)
    @action(detail=True, methods=["post"], object_action="view")
    def reverse(self, request, pk=None):
        body = s.ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        done = services.reverse_containment(
            self.get_object(), actor=request.user, reason=body.validated_data["reason"]
        )
        return Response(s.ContainmentActionSerializer(done).data)


class PlaybookViewSet(TenantViewSet):
    queryset = Playbook.objects.prefetch_related("tasks")
    serializer_class = s.PlaybookSerializer
    filterset_fields = ["organization", "category", "shipped"]
    search_fields = ["name", "slug"]
    object_action = None

    @extend_schema(request=None, responses=None)
    @action(detail=False, methods=["post"], url_path="load-shipped")
    def load_shipped(self, request):
        """Install or upgrade the shipped playbooks in ``?organization=`` (or your only one)."""
        from encompass.tenancy.models import Organization

        orgs = Organization.objects.restrict(request.user, "view")
        org_id = request.query_params.get("organization") or request.data.get("organization")
        org = (
            orgs.filter(pk=org_id).first()
            if org_id
            else (orgs.first() if orgs.count() == 1 else None)
        )
        if org is None:
            return Response({"organization": ["Say which organization."]}, status=400)
        created, updated = services.load_shipped_playbooks(org, actor=request.user)
        return Response({"created": created, "updated": updated})


class PlaybookTaskWriteSerializer(TenantSerializer):
    """A playbook task as written (one class, so the schema has one component for it)."""

    playbook = drf.PrimaryKeyRelatedField(queryset=Playbook.objects.all())

    class Meta:
        model = PlaybookTask
        fields = ["id", "organization", "playbook", *s.PlaybookTaskSerializer.Meta.fields[1:]]


class PlaybookTaskViewSet(TenantViewSet):
    queryset = PlaybookTask.objects.select_related("playbook")
    serializer_class = PlaybookTaskWriteSerializer
    filterset_fields = ["playbook", "phase"]


class SlaPolicyViewSet(TenantViewSet):
    queryset = SlaPolicy.objects.all()
    serializer_class = s.SlaPolicySerializer
    filterset_fields = ["organization", "severity"]


class SlaBreachViewSet(TenantReadOnlyViewSet):
    queryset = SlaBreach.objects.select_related("incident")
    serializer_class = s.SlaBreachSerializer
    filterset_fields = ["incident", "metric"]


class EscalationRuleViewSet(TenantViewSet):
    queryset = EscalationRule.objects.select_related("playbook")
    serializer_class = s.EscalationRuleSerializer
    filterset_fields = ["organization", "enabled", "category"]
