from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from encompass.api.viewsets import TenantReadOnlyViewSet, TenantViewSet
from encompass.tenancy import crud

from .. import services
from ..models import WebhookDelivery, WebhookEndpoint
from . import serializers as s


class WebhookEndpointViewSet(TenantViewSet):
    """Outbound webhooks. The signing secret is shown once: in the create (or rotate) answer."""

    queryset = WebhookEndpoint.objects.all()
    serializer_class = s.WebhookEndpointSerializer
    filterset_fields = ["organization", "active"]
    object_action = None

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        endpoint, secret = services.create_webhook_endpoint(
            organization=data["organization"],
            name=data["name"],
            url=data["url"],
            event_prefixes=data.get("event_prefixes", []),
            active=data.get("active", True),
            actor=request.user,
        )
        out = self.get_serializer(
            endpoint, context={**self.get_serializer_context(), "plaintext_secret": secret}
        )
        return Response(out.data, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("organization", None)
        serializer.instance = services.update_webhook_endpoint(
            serializer.instance, data, actor=self.request.user
        )

    def perform_destroy(self, instance):
        crud.delete_object(instance, actor=self.request.user, event=False)

    @extend_schema(request=None, responses=s.WebhookEndpointSerializer)
    @action(detail=True, methods=["post"], url_path="rotate-secret", object_action="view")
    def rotate_secret(self, request, pk=None):
        endpoint, secret = services.rotate_webhook_secret(self.get_object(), actor=request.user)
        out = self.get_serializer(
            endpoint, context={**self.get_serializer_context(), "plaintext_secret": secret}
        )
        return Response(out.data)


class WebhookDeliveryViewSet(TenantReadOnlyViewSet):
    queryset = WebhookDelivery.objects.select_related("endpoint")
    serializer_class = s.WebhookDeliverySerializer
    filterset_fields = ["endpoint", "status", "kind"]
    object_action = None

    @extend_schema(request=None, responses=s.WebhookDeliverySerializer)
    @action(detail=True, methods=["post"], object_action="view")
    def redeliver(self, request, pk=None):
        return Response(
            s.WebhookDeliverySerializer(
                services.redeliver(self.get_object(), actor=request.user)
            ).data
        )
