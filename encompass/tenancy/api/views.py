from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from encompass.api.viewsets import (
    CreateListRetrieveViewSet,
    RestrictedViewSetMixin,
    TenantViewSet,
)
from encompass.tenancy import crud, invitations, services
from encompass.tenancy.models import ApiKey, Membership, MembershipInvitation, Organization, Site

from .serializers import (
    ApiKeySerializer,
    MembershipInvitationSerializer,
    MembershipSerializer,
    OrganizationSerializer,
    ReasonSerializer,
    SiteSerializer,
)


class OrganizationViewSet(
    RestrictedViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Organizations you belong to. Admins may rename them; creating one is a platform task."""

    queryset = Organization.objects.all()
    serializer_class = OrganizationSerializer
    filterset_fields = ["slug"]
    search_fields = ["name", "slug"]

    def perform_update(self, serializer):
        serializer.instance = crud.update_object(
            serializer.instance, serializer.validated_data, actor=self.request.user
        )


class SiteViewSet(TenantViewSet):
    queryset = Site.objects.select_related("organization")
    serializer_class = SiteSerializer
    filterset_fields = ["organization", "slug"]
    search_fields = ["name", "slug", "address"]


class MembershipViewSet(TenantViewSet):
    """Who may do what. Writes need the Admin role; grants follow the membership.

    Memberships are not created here: an Admin invites a username
    (``/api/v1/membership-invitations/``) and the user joins by accepting.
    """

    http_method_names = ["get", "put", "patch", "delete", "head", "options"]

    queryset = Membership.objects.select_related("organization", "user").prefetch_related("sites")
    serializer_class = MembershipSerializer
    filterset_fields = ["organization", "role"]
    search_fields = ["user__username", "user__email"]
    object_action = None

    def get_object(self):
        obj = super().get_object()
        return obj

    def check_object_permissions(self, request, obj):
        # Membership writes are an organization permission (manage_members), checked by the
        # service; reads follow restrict().
        return (
            super().check_object_permissions(request, obj)
            if request.method in ("GET", "HEAD", "OPTIONS")
            else None
        )

    def perform_update(self, serializer):
        data = serializer.validated_data
        serializer.instance = services.change_membership(
            serializer.instance,
            role=data.get("role"),
            sites=data.get("sites"),
            actor=self.request.user,
        )

    def perform_destroy(self, instance):
        services.remove_membership(instance, actor=self.request.user)


class MembershipInvitationViewSet(CreateListRetrieveViewSet):
    """Roles offered to usernames, for the organization's Admins. Creating one answers the same
    whether the username exists or not; the invited user accepts in the web UI
    (``/invitations/``)."""

    queryset = MembershipInvitation.objects.select_related(
        "organization", "invited_by"
    ).prefetch_related("sites")
    serializer_class = MembershipInvitationSerializer
    filterset_fields = ["organization", "status", "role"]
    search_fields = ["username"]

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = invitations.invite_member(
            organization=data["organization"],
            username=data["username"],
            role=data["role"],
            sites=data.get("sites", []),
            actor=self.request.user,
        )

    @extend_schema(request=None, responses=MembershipInvitationSerializer)
    @action(detail=True, methods=["post"], object_action="revoke")
    def revoke(self, request, pk=None):
        invitation = invitations.revoke_invitation(self.get_object(), actor=request.user)
        return Response(self.get_serializer(invitation).data)


class ApiKeyViewSet(CreateListRetrieveViewSet):
    """Integration keys. The key is shown once, in the answer to its creation."""

    queryset = ApiKey.objects.select_related("organization")
    serializer_class = ApiKeySerializer
    filterset_fields = ["organization", "role", "suspended"]
    search_fields = ["name", "prefix"]

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        key, plaintext = services.create_api_key(
            organization=data["organization"],
            name=data["name"],
            role=data["role"],
            expires_at=data.get("expires_at"),
            days=data.get("days"),
            actor=request.user,
        )
        out = self.get_serializer(
            key, context={**self.get_serializer_context(), "plaintext_key": plaintext}
        )
        return Response(out.data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ReasonSerializer, responses=ApiKeySerializer)
    @action(detail=True, methods=["post"], object_action="revoke")
    def revoke(self, request, pk=None):
        reason = ReasonSerializer(data=request.data)
        reason.is_valid(raise_exception=True)
        key = services.revoke_api_key(
            self.get_object(), actor=request.user, reason=reason.validated_data["reason"]
        )
        return Response(self.get_serializer(key).data)

    @extend_schema(request=ReasonSerializer, responses=ApiKeySerializer)
    @action(detail=True, methods=["post"], object_action="suspend")
    def suspend(self, request, pk=None):
        reason = ReasonSerializer(data=request.data)
        reason.is_valid(raise_exception=True)
        key = services.set_api_key_suspended(
            self.get_object(), True, actor=request.user, reason=reason.validated_data["reason"]
        )
        return Response(self.get_serializer(key).data)

    @extend_schema(request=ReasonSerializer, responses=ApiKeySerializer)
    @action(detail=True, methods=["post"], object_action="suspend")
    def resume(self, request, pk=None):
        reason = ReasonSerializer(data=request.data)
        reason.is_valid(raise_exception=True)
        key = services.set_api_key_suspended(
            self.get_object(), False, actor=request.user, reason=reason.validated_data["reason"]
        )
        return Response(self.get_serializer(key).data)
