"""SBOM endpoints: a release's SBOM (upload, read, export), components, and who contains what."""

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from devices.models import Device
from encompass.api.viewsets import RestrictedViewSetMixin, TenantReadOnlyViewSet

from ..models import Component, FirmwareRelease, SoftwareBill
from ..sbom.export import to_cyclonedx_json, to_spdx_json
from ..services import sbom as sbom_services

CYCLONEDX_JSON = "application/vnd.cyclonedx+json; version=1.6"
SPDX_JSON = "application/spdx+json"


class SoftwareBillSerializer(serializers.ModelSerializer):
    uploaded_by = serializers.StringRelatedField()

    class Meta:
        model = SoftwareBill
        fields = [
            "id",
            "organization",
            "release",
            "format",
            "spec_version",
            "serial_number",
            "document_name",
            "generator",
            "document_created_at",
            "sha256",
            "size",
            "filename",
            "component_count",
            "uploaded_by",
            "created_at",
            "superseded_at",
        ]
        read_only_fields = fields


class ComponentSerializer(serializers.ModelSerializer):
    release_version = serializers.CharField(source="release.version", read_only=True)

    class Meta:
        model = Component
        fields = [
            "id",
            "organization",
            "release",
            "release_version",
            "bill",
            "bom_ref",
            "type",
            "group",
            "name",
            "version",
            "purl",
            "cpe",
            "supplier",
            "licenses",
            "hashes",
            "is_root",
        ]
        read_only_fields = fields


class SbomUploadSerializer(serializers.Serializer):
    sbom = serializers.FileField(
        help_text="CycloneDX 1.4-1.7 (JSON or XML) or SPDX 2.3 (JSON or tag-value)."
    )


class ReleaseSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = FirmwareRelease
        fields = ["id", "organization", "version", "security_version", "status"]
        read_only_fields = fields


class DeviceSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Device
        fields = ["id", "organization", "site", "device_type", "name", "uid", "firmware_version"]
        read_only_fields = fields


def _download(text, content_type, filename):
    response = HttpResponse(text, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _export(bill, kind, label):
    if kind == "cyclonedx":
        return _download(to_cyclonedx_json(bill), CYCLONEDX_JSON, f"{label}.cdx.json")
    return _download(to_spdx_json(bill, name=label), SPDX_JSON, f"{label}.spdx.json")


def _current_or_404(release):
    bill = sbom_services.current_bill(release)
    if bill is None:
        from rest_framework.exceptions import NotFound

        raise NotFound("This release has no SBOM.")
    return bill


class ReleaseSbomMixin:
    """``/firmware-releases/<id>/sbom/`` and its exports, mixed into the release viewset."""

    @extend_schema(methods=["GET"], responses=SoftwareBillSerializer)
    @extend_schema(methods=["POST"], request=SbomUploadSerializer, responses=SoftwareBillSerializer)
    @action(detail=True, methods=["get", "post"], url_path="sbom")
    def sbom(self, request, pk=None):
        release = self.get_object()
        if request.method == "GET":
            return Response(SoftwareBillSerializer(_current_or_404(release)).data)
        body = SbomUploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        bill = sbom_services.attach_sbom(release, body.validated_data["sbom"], actor=request.user)
        return Response(SoftwareBillSerializer(bill).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={(200, CYCLONEDX_JSON): dict})
    @action(detail=True, methods=["get"], url_path="sbom/cyclonedx")
    def sbom_cyclonedx(self, request, pk=None):
        release = self.get_object()
        return _export(_current_or_404(release), "cyclonedx", f"release-{release.version}")

    @extend_schema(responses={(200, SPDX_JSON): dict})
    @action(detail=True, methods=["get"], url_path="sbom/spdx")
    def sbom_spdx(self, request, pk=None):
        release = self.get_object()
        return _export(_current_or_404(release), "spdx", f"release-{release.version}")

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    @action(detail=True, methods=["get"], url_path="sbom/document")
    def sbom_document(self, request, pk=None):
        """The SBOM exactly as it was uploaded."""
        bill = _current_or_404(self.get_object())
        ext = {"cyclonedx-json": "cdx.json", "cyclonedx-xml": "cdx.xml", "spdx-json": "spdx.json"}
        return _download(
            bill.document, "application/octet-stream", f"sbom.{ext.get(bill.format, 'spdx')}"
        )


MATCH_PARAMETERS = [
    OpenApiParameter("purl", str, description="Package URL; without a version, any version."),
    OpenApiParameter("name", str, description="Component name (case-insensitive)."),
    OpenApiParameter("version", str, description="Component version (exact)."),
]


def _match(request):
    params = {k: request.query_params.get(k) for k in ("purl", "name", "version")}
    if not any(params.values()):
        from rest_framework.exceptions import ValidationError

        raise ValidationError({"purl": "Give a purl, a name or a version to look for."})
    return params


class ComponentViewSet(TenantReadOnlyViewSet):
    """Components of current SBOMs; ``releases/`` and ``devices/`` answer "who contains X"."""

    queryset = Component.objects.select_related("release")
    serializer_class = ComponentSerializer
    filterset_fields = ["organization", "release", "bill", "type", "version", "purl_type"]
    search_fields = ["name", "purl", "cpe"]

    def get_queryset(self):
        qs = super().get_queryset()
        if self.action == "list":
            params = {k: self.request.query_params.get(k) for k in ("purl", "name")}
            qs = sbom_services.match_components(qs, **params)
        return qs

    @extend_schema(parameters=MATCH_PARAMETERS, responses=ReleaseSummarySerializer(many=True))
    @action(detail=False, methods=["get"])
    def releases(self, request):
        releases = sbom_services.releases_containing(request.user, **_match(request))
        page = self.paginate_queryset(releases.order_by("-created_at", "-pk"))
        return self.get_paginated_response(ReleaseSummarySerializer(page, many=True).data)

    @extend_schema(parameters=MATCH_PARAMETERS, responses=DeviceSummarySerializer(many=True))
    @action(detail=False, methods=["get"])
    def devices(self, request):
        releases = sbom_services.releases_containing(request.user, **_match(request))
        devices = sbom_services.devices_running(request.user, releases).order_by("pk")
        page = self.paginate_queryset(devices)
        return self.get_paginated_response(DeviceSummarySerializer(page, many=True).data)


class DeviceSbomViewSet(RestrictedViewSetMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The SBOM of the release a device reports running."""

    queryset = Device.objects.select_related("organization", "device_type")
    serializer_class = DeviceSummarySerializer
    object_action = "view"

    def _bill(self):
        device = self.get_object()
        release = sbom_services.installed_release(device)
        if release is None:
            from rest_framework.exceptions import NotFound

            raise NotFound("No known release matches the firmware this device reports.")
        return device, release, _current_or_404(release)

    @extend_schema(responses=SoftwareBillSerializer)
    def retrieve(self, request, pk=None):
        _device, _release, bill = self._bill()
        return Response(SoftwareBillSerializer(bill).data)

    @action(detail=True, methods=["get"])
    def cyclonedx(self, request, pk=None):
        device, _release, bill = self._bill()
        return _export(bill, "cyclonedx", f"device-{device.pk}")

    @action(detail=True, methods=["get"])
    def spdx(self, request, pk=None):
        device, _release, bill = self._bill()
        return _export(bill, "spdx", f"device-{device.pk}")


__all__ = ["ComponentViewSet", "DeviceSbomViewSet", "ReleaseSbomMixin"]
