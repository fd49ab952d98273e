"""Device API of the firmware app (``/api/device/v1/update...``)."""

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from devices.authentication import DeviceAPIMixin
from devices.monitoring.api.device_views import DeviceRateThrottle

from .. import services, signing
from ..choices import OFFERABLE_RELEASE_STATES
from ..models import FirmwareRelease
from ..services.keys import manifest_key_for
from .serializers import StatusReportSerializer


class DeviceFirmwareView(DeviceAPIMixin, APIView):
    throttle_classes = [DeviceRateThrottle]


SignedManifest = inline_serializer(
    "SignedManifest",
    {
        "manifest": serializers.CharField(help_text="base64 of the exact manifest bytes"),
        "signature": serializers.CharField(help_text="base64 Ed25519 signature over them"),
        "algorithm": serializers.CharField(),
        "key_id": serializers.CharField(),
        "payload": serializers.DictField(help_text="the same manifest, decoded (do not verify)"),
    },
)
ManifestKey = inline_serializer(
    "ManifestKey",
    {
        "algorithm": serializers.CharField(),
        "key_id": serializers.CharField(),
        "public_key": serializers.CharField(),
        "public_key_raw": serializers.CharField(),
    },
)
StatusAnswer = inline_serializer(
    "UpdateStatusAnswer",
    {
        "update_id": serializers.IntegerField(),
        "status": serializers.CharField(),
        "health_deadline": serializers.DateTimeField(allow_null=True),
    },
)


class UpdateManifestView(DeviceFirmwareView):
    """GET: the signed, expiring manifest of what to install now (``?nonce=`` binds it)."""

    @extend_schema(
        operation_id="device_update_manifest",
        parameters=[OpenApiParameter("nonce", str, description="Up to 64 printable characters.")],
        responses=SignedManifest,
    )
    def get(self, request):
        device = self.device

        def artifact_url(release):
            return request.build_absolute_uri(reverse("firmware-artifact", args=[release.pk]))

        body = services.issue_manifest(
            device, artifact_url=artifact_url, nonce=request.query_params.get("nonce")
        )
        return Response(body)


class ManifestKeyView(DeviceFirmwareView):
    """GET: the organization's manifest-signing public key (also given at provisioning)."""

    @extend_schema(operation_id="device_update_key", responses=ManifestKey)
    def get(self, request):
        key = manifest_key_for(self.device.organization)
        public = signing.load_public_key(key.public_key)
        return Response(
            {
                "algorithm": "Ed25519",
                "key_id": key.fingerprint,
                "public_key": key.public_key,
                "public_key_raw": signing.b64(signing.raw_public(public)),
            }
        )


class UpdateStatusView(DeviceFirmwareView):
    """POST {update_id, status, reason}: downloading, installing, rebooting, succeeded, failed."""

    @extend_schema(request=StatusReportSerializer, responses=StatusAnswer)
    def post(self, request):
        body = StatusReportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        update = services.report_update_status(self.device, **body.validated_data)
        update.refresh_from_db(fields=["status", "health_deadline"])
        return Response(
            {
                "update_id": update.pk,
                "status": update.status,
                "health_deadline": update.health_deadline.isoformat()
                if update.health_deadline
                else None,
            }
        )


class ArtifactView(DeviceFirmwareView):
    """GET: stream a firmware image the device may install (its organization and type)."""

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request, release_id):
        device = self.device
        release = FirmwareRelease.objects.filter(
            pk=release_id,
            organization_id=device.organization_id,
            device_types=device.device_type_id,
            status__in=OFFERABLE_RELEASE_STATES,
        ).first()
        if release is None:
            raise Http404("No such firmware for this device.")
        response = FileResponse(
            default_storage.open(release.artifact.name, "rb"),
            content_type="application/octet-stream",
            as_attachment=True,
            filename=f"firmware-{release.version}.bin",
        )
        response["Content-Length"] = str(release.size)
        response["ETag"] = f'"{release.sha256}"'
        response["X-Content-SHA256"] = release.sha256
        return response
