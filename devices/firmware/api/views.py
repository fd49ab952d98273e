"""Staff / integration REST API of the firmware app (``/api/v1/``)."""

from django.core.files.storage import default_storage
from django.db import models, transaction
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from encompass.api.parsers import FormParser, JSONParser, MultiPartParser
from encompass.api.viewsets import RestrictedViewSetMixin, TenantReadOnlyViewSet, TenantViewSet
from encompass.tenancy import crud

from .. import services
from ..models import DeviceUpdate, FirmwareRelease, Rollout, SigningKey
from ..services.progress import progress
from ..services.sbom import attach_sbom
from . import serializers as s
from .sbom import ReleaseSbomMixin


class SigningKeyViewSet(TenantViewSet):
    """Ed25519 keys whose signatures the organization accepts on firmware images."""

    queryset = SigningKey.objects.select_related("organization")
    serializer_class = s.SigningKeySerializer
    filterset_fields = ["organization", "status", "custody"]
    search_fields = ["name", "fingerprint"]
    object_action = "view"  # writes are checked by the services

    def perform_create(self, serializer):
        data = serializer.validated_data
        if data.get("platform_held"):
            serializer.instance = services.create_platform_signing_key(
                organization=data["organization"],
                name=data.get("name", ""),
                description=data.get("description", ""),
                actor=self.request.user,
            )
        else:
            serializer.instance = services.register_signing_key(
                organization=data["organization"],
                name=data.get("name", ""),
                public_key=data.get("public_key", ""),
                description=data.get("description", ""),
                actor=self.request.user,
            )

    def perform_update(self, serializer):
        data = {k: v for k, v in serializer.validated_data.items() if k in ("name", "description")}
        serializer.instance = crud.update_object(serializer.instance, data, actor=self.request.user)

    @extend_schema(request=s.ReasonSerializer, responses=s.SigningKeySerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        body = s.ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        key = services.revoke_signing_key(
            self.get_object(), actor=request.user, reason=body.validated_data["reason"]
        )
        return Response(self.get_serializer(key).data)


class FirmwareReleaseViewSet(
    ReleaseSbomMixin,
    RestrictedViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Firmware images. Upload (multipart) verifies hash and signature; approval is four-eyes."""

    queryset = FirmwareRelease.objects.select_related(
        "organization", "signing_key", "uploaded_by", "approved_by"
    ).prefetch_related("device_types")
    filterset_fields = ["organization", "status", "device_types", "version"]
    search_fields = ["version", "release_notes", "sha256"]
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    object_action = "view"
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_serializer_class(self):
        if self.action in ("update", "partial_update"):
            return s.ReleaseUpdateSerializer
        return s.ReleaseSerializer

    def get_parsers(self):
        # Multipart is for the upload; a change of notes or metadata is JSON (a multipart body
        # whose parts Django cannot read would otherwise pass as an empty, accepted change).
        if getattr(self, "action", None) in ("update", "partial_update"):
            return [JSONParser()]
        return super().get_parsers()

    def initialize_request(self, request, *args, **kwargs):
        request = super().initialize_request(request, *args, **kwargs)
        if self.action in ("update", "partial_update"):  # known only now (see get_parsers)
            request.parsers = self.get_parsers()
        return request

    def perform_create(self, serializer):
        data = serializer.validated_data
        with transaction.atomic():
            release = self._upload(data)
            if data.get("sbom") is not None:
                try:
                    attach_sbom(release, data["sbom"], actor=self.request.user)
                except Exception:
                    default_storage.delete(release.artifact.name)
                    raise
        serializer.instance = release

    def _upload(self, data):
        return services.upload_release(
            organization=data["organization"],
            device_types=data["device_types"],
            version=data["version"],
            security_version=data["security_version"],
            artifact=data["artifact"],
            signature=data.get("signature") or None,
            signing_key=data.get("signing_key"),
            sign_with_platform=data.get("sign_with_platform", False),
            sha256=data.get("sha256") or None,
            release_notes=data.get("release_notes", ""),
            cves_fixed=data.get("cves_fixed", []),
            metadata=data.get("metadata") or {},
            actor=self.request.user,
        )

    def perform_update(self, serializer):
        from ..services.releases import _clean_cves

        data = dict(serializer.validated_data)
        data.pop("organization", None)
        if "cves_fixed" in data:
            data["cves_fixed"] = _clean_cves(data["cves_fixed"])
        serializer.instance = crud.update_object(serializer.instance, data, actor=self.request.user)

    def update(self, request, *args, **kwargs):
        kwargs["partial"] = True
        response = super().update(request, *args, **kwargs)
        response.data = s.ReleaseSerializer(
            self.get_object(), context=self.get_serializer_context()
        ).data
        return response

    def _reply(self, release):
        return Response(s.ReleaseSerializer(release, context=self.get_serializer_context()).data)

    @extend_schema(request=s.NoteSerializer, responses=s.ReleaseSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        body = s.NoteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._reply(
            services.approve_release(
                self.get_object(), actor=request.user, note=body.validated_data["note"]
            )
        )

    @extend_schema(request=s.NoteSerializer, responses=s.ReleaseSerializer)
    @action(detail=True, methods=["post"])
    def deprecate(self, request, pk=None):
        body = s.NoteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._reply(
            services.deprecate_release(
                self.get_object(), actor=request.user, reason=body.validated_data["note"]
            )
        )

    @extend_schema(request=s.ReasonSerializer, responses=s.ReleaseSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        body = s.ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._reply(
            services.revoke_release(
                self.get_object(), actor=request.user, reason=body.validated_data["reason"]
            )
        )


class RolloutViewSet(TenantViewSet):
    """Staged rollouts: create (draft), start, pause, resume, abort, approve-wave, rollback."""

    queryset = Rollout.objects.select_related(
        "organization", "release", "device_type"
    ).prefetch_related("sites", "tags", "devices")
    filterset_fields = ["organization", "status", "release", "device_type"]
    search_fields = ["name"]
    object_action = "view"

    def get_serializer_class(self):
        if self.action in ("update", "partial_update"):
            return s.RolloutUpdateSerializer
        return s.RolloutSerializer

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        targets = {k: data.pop(k, []) for k in ("sites", "tags", "devices")}
        serializer.instance = services.create_rollout(
            organization=data.pop("organization"),
            release=data.pop("release"),
            device_type=data.pop("device_type"),
            name=data.pop("name", ""),
            actor=self.request.user,
            **targets,
            **data,
        )

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("organization", None)
        m2m = {k: data.pop(k) for k in ("sites", "tags", "devices") if k in data}
        serializer.instance = services.update_rollout(
            serializer.instance, data, actor=self.request.user, m2m=m2m
        )

    def perform_destroy(self, instance):
        services.delete_rollout(instance, actor=self.request.user)

    def _reply(self, rollout, code=status.HTTP_200_OK):
        rollout = self.get_queryset().get(pk=rollout.pk)
        data = s.RolloutSerializer(rollout, context=self.get_serializer_context()).data
        data["progress"] = progress(rollout)
        return Response(data, status=code)

    def retrieve(self, request, *args, **kwargs):
        return self._reply(self.get_object())

    @extend_schema(request=None, responses=s.RolloutSerializer)
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        return self._reply(services.start_rollout(self.get_object(), actor=request.user))

    @extend_schema(request=s.ReasonSerializer, responses=s.RolloutSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        return self._reason_action(services.pause_rollout, request)

    @extend_schema(request=s.ReasonSerializer, responses=s.RolloutSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        return self._reason_action(services.resume_rollout, request)

    @extend_schema(request=s.ReasonSerializer, responses=s.RolloutSerializer)
    @action(detail=True, methods=["post"])
    def abort(self, request, pk=None):
        return self._reason_action(services.abort_rollout, request)

    def _reason_action(self, func, request):
        body = s.ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._reply(
            func(self.get_object(), actor=request.user, reason=body.validated_data["reason"])
        )

    @extend_schema(request=s.NoteSerializer, responses=s.RolloutSerializer)
    @action(detail=True, methods=["post"], url_path="approve-wave")
    def approve_wave(self, request, pk=None):
        body = s.NoteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._reply(
            services.approve_wave(
                self.get_object(), actor=request.user, note=body.validated_data["note"]
            )
        )

    @extend_schema(request=s.RollbackSerializer, responses=s.RolloutSerializer)
    @action(detail=True, methods=["post"])
    def rollback(self, request, pk=None):
        rollout = self.get_object()
        body = s.RollbackSerializer(data=request.data, context=self.get_serializer_context())
        body.fields["release"].queryset = FirmwareRelease.objects.restrict(request.user, "view")
        body.is_valid(raise_exception=True)
        back = services.rollback_rollout(
            rollout,
            actor=request.user,
            reason=body.validated_data["reason"],
            release=body.validated_data.get("release"),
        )
        return self._reply(back, code=status.HTTP_201_CREATED)

    @extend_schema(responses=s.RolloutProgressSerializer)
    @action(detail=True, methods=["get"])
    def progress(self, request, pk=None):
        rollout = self.get_object()
        return Response(
            {
                "rollout": rollout.pk,
                "status": rollout.status,
                "reason": rollout.status_reason,
                "waves": progress(rollout),
            }
        )


class DeviceUpdateViewSet(TenantReadOnlyViewSet):
    """Each device's update in each rollout (read-only; devices report through the device API)."""

    queryset = DeviceUpdate.objects.select_related("device", "wave", "release")
    serializer_class = s.DeviceUpdateSerializer
    filterset_fields = ["organization", "rollout", "device", "status", "release"]
    search_fields = ["device__name", "device__uid"]


__all__ = ["models"]
