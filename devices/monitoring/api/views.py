from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from encompass.api.viewsets import TenantReadOnlyViewSet, TenantViewSet

from .. import services
from ..filters import AlertFilter
from ..models import Alert, AlertRule
from .serializers import AlertRuleSerializer, AlertSerializer, NoteSerializer, ResolutionSerializer


class AlertRuleViewSet(TenantViewSet):
    """Alert rules of your organizations (Admins, Security officers and Operators write)."""

    queryset = AlertRule.objects.select_related("organization")
    serializer_class = AlertRuleSerializer
    filterset_fields = ["organization", "kind", "enabled", "severity", "metric"]
    search_fields = ["name", "metric", "description"]
    ordering_fields = ["name", "created_at"]


class AlertViewSet(TenantReadOnlyViewSet):
    """Alerts, newest first. Raised by rules and platform checks; people acknowledge and
    resolve them with the actions below."""

    queryset = Alert.objects.select_related("device")
    serializer_class = AlertSerializer
    filterset_class = AlertFilter
    search_fields = ["title", "dedupe_key"]
    ordering_fields = ["last_seen_at", "severity"]

    def _object_for(self, verb):
        self.object_action = verb
        return self.get_object()

    @extend_schema(request=NoteSerializer, responses=AlertSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        data = NoteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        alert = services.acknowledge_alert(
            self._object_for("acknowledge"), actor=request.user, note=data.validated_data["note"]
        )
        return Response(self.get_serializer(alert).data)

    @extend_schema(request=ResolutionSerializer, responses=AlertSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        data = ResolutionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        alert = services.resolve_alert(
            self._object_for("resolve"),
            actor=request.user,
            resolution=data.validated_data["resolution"],
        )
        return Response(self.get_serializer(alert).data)
