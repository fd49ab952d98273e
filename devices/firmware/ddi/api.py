"""Staff / integration API of DDI gateway tokens: ``/api/v1/ddi-gateway-tokens/``.

Create answers the ``gwt_...`` secret once (only a keyed hash is kept); revoke is final.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from encompass.api.serializers import TenantSerializer
from encompass.api.viewsets import RestrictedViewSetMixin

from ..api.serializers import ReasonSerializer
from ..models import GatewayToken
from .tokens import create_gateway_token, revoke_gateway_token


class GatewayTokenSerializer(TenantSerializer):
    class Meta:
        model = GatewayToken
        fields = [
            "id",
            "organization",
            "name",
            "prefix",
            "revoked_at",
            "revoked_reason",
            "last_used_at",
            "created_at",
        ]
        read_only_fields = ["prefix", "revoked_at", "revoked_reason", "last_used_at"]


class IssuedGatewayTokenSerializer(GatewayTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="gwt_...: shown only in this answer.")

    class Meta(GatewayTokenSerializer.Meta):
        fields = [*GatewayTokenSerializer.Meta.fields, "token"]


class GatewayTokenViewSet(
    RestrictedViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """hawkBit DDI gateway tokens (``Authorization: GatewayToken gwt_...``)."""

    queryset = GatewayToken.objects.select_related("organization")
    serializer_class = GatewayTokenSerializer
    filterset_fields = ["organization"]
    search_fields = ["name", "prefix"]
    object_action = "view"  # writes are checked by the services

    @extend_schema(request=GatewayTokenSerializer, responses={201: IssuedGatewayTokenSerializer})
    def create(self, request, *args, **kwargs):
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        row, token = create_gateway_token(
            organization=body.validated_data["organization"],
            name=body.validated_data.get("name", ""),
            actor=request.user,
        )
        answer = IssuedGatewayTokenSerializer(row, context=self.get_serializer_context()).data
        answer["token"] = token
        return Response(answer, status=status.HTTP_201_CREATED)

    @extend_schema(request=ReasonSerializer, responses=GatewayTokenSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        body = ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        row = revoke_gateway_token(
            self.get_object(), actor=request.user, reason=body.validated_data["reason"]
        )
        return Response(self.get_serializer(row).data)
