from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets

from encompass.api.viewsets import RestrictedViewSetMixin, TenantReadOnlyViewSet
from encompass.tenancy import crud

from ..filters import EventFilter
from ..models import Event, RetentionPolicy
from .serializers import EventSerializer, RetentionPolicySerializer


class EventViewSet(TenantReadOnlyViewSet):
    """The event stream, newest first, cursor-paginated. Read-only: events are written by the
    platform and by devices. Filter with ``device``, ``device_uid``, ``kind``, ``kind_prefix``,
    ``severity``, ``site``, ``since`` / ``until`` (received time, ISO 8601) and ``after_id``."""

    queryset = Event.objects.select_related("device")
    serializer_class = EventSerializer
    filterset_class = EventFilter
    search_fields = []
    ordering_fields = []


@extend_schema(tags=["events"])
class RetentionPolicyViewSet(
    RestrictedViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """How long each organization keeps each class of event. Admins change it."""

    queryset = RetentionPolicy.objects.select_related("organization")
    serializer_class = RetentionPolicySerializer
    filterset_fields = ["organization"]
    search_fields = []
    ordering_fields = []

    def perform_update(self, serializer):
        serializer.instance = crud.update_object(
            serializer.instance, serializer.validated_data, actor=self.request.user, event=False
        )
