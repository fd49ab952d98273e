"""hawkBit DDI v1 at ``/{tenant}/controller/v1/{controllerId}/...`` (tenant = organization slug,
controllerId = device uid). Views only parse and call ``devices.firmware.ddi.services``."""

from django.core.files.storage import default_storage
from django.http import FileResponse, HttpResponse
from django.urls import reverse
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from devices.authentication import IsDevice
from devices.monitoring.api.device_views import DeviceRateThrottle

from ..choices import OFFERABLE_RELEASE_STATES
from ..models import FirmwareRelease
from . import serializers as s
from . import services
from .auth import DDIAuthentication

NOT_FOUND = "No such action for this target."


class HalJSONRenderer(JSONRenderer):
    media_type = "application/hal+json"


class DDIAutoSchema(AutoSchema):
    """Either hawkBit token (or the proxy certificate), not both: one requirement per scheme."""

    def get_auth(self):
        combined = super().get_auth()  # also registers the schemes
        return [{name: scopes} for requirement in combined for name, scopes in requirement.items()]

    def get_tags(self):
        return ["hawkBit DDI v1"]


class DDIView(APIView):
    schema = DDIAutoSchema()
    authentication_classes = [DDIAuthentication]
    permission_classes = [IsDevice]
    throttle_classes = [DeviceRateThrottle]
    renderer_classes = [JSONRenderer, HalJSONRenderer]

    @property
    def device(self):
        return self.request.user.device

    def url(self, name, *args, query=""):
        kwargs = self.kwargs
        path = reverse(name, args=[kwargs["tenant"], kwargs["controller_id"], *args])
        return self.request.build_absolute_uri(path) + query

    def artifact_links(self, release, filename):
        download = self.url("ddi-artifact", release.pk, filename)
        md5sum = self.url("ddi-artifact-md5", release.pk, filename)
        links = {"download": {"href": download}, "md5sum": {"href": md5sum}}
        if not self.request.is_secure():
            links["download-http"] = {"href": download}
            links["md5sum-http"] = {"href": md5sum}
        return links


def _action_id(value):
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise NotFound(NOT_FOUND) from exc


class ControllerBaseView(DDIView):
    """The polling resource: when to poll next, and what there is to do (``_links``)."""

    @extend_schema(responses=s.ControllerBaseSerializer, operation_id="ddi_controller_base")
    def get(self, request, tenant, controller_id):
        kind, update = services.open_action(self.device)
        links = {}
        if kind == "cancel":
            links["cancelAction"] = {"href": self.url("ddi-cancel", update.pk)}
        elif kind == "deployment":
            links["deploymentBase"] = {
                "href": self.url(
                    "ddi-deployment", update.pk, query=f"?c={services.action_hash(update)}"
                )
            }
        installed = services.installed_update(self.device)
        if installed is not None:
            links["installedBase"] = {"href": self.url("ddi-installed", installed.pk)}
        if services.wants_config_data(self.device, kind):
            links["configData"] = {"href": self.url("ddi-config")}
        return Response(
            {"config": {"polling": {"sleep": services.polling_sleep()}}, "_links": links}
        )


class DeploymentBaseView(DDIView):
    """One action: the release to download and install, its hashes and download links."""

    @extend_schema(
        responses=s.DeploymentBaseSerializer,
        operation_id="ddi_deployment_base",
        parameters=[OpenApiParameter("c", str, description="Action hash (ignored).")],
    )
    def get(self, request, tenant, controller_id, action_id):
        update = (
            self.device.firmware_updates.select_related("rollout", "release", "device__site")
            .filter(pk=_action_id(action_id))
            .exclude(status="pending")
            .first()
        )
        if update is None or update.release.status not in OFFERABLE_RELEASE_STATES:
            raise NotFound(NOT_FOUND)
        history = request.query_params.get("actionHistory") not in (None, "", "0")
        return Response(services.deployment(update, links=self.artifact_links, history=history))


class InstalledBaseView(DeploymentBaseView):
    """The last action installed on the target (same document as ``deploymentBase``)."""

    @extend_schema(responses=s.DeploymentBaseSerializer, operation_id="ddi_installed_base")
    def get(self, request, tenant, controller_id, action_id):
        installed = services.installed_update(self.device)
        if installed is None or installed.pk != _action_id(action_id):
            raise NotFound(NOT_FOUND)
        return super().get(request, tenant, controller_id, action_id)


def _feedback_response(update):
    if update is None:
        raise NotFound(NOT_FOUND)
    return Response(status=status.HTTP_200_OK)


class DeploymentFeedbackView(DDIView):
    """The device's progress and result on one action."""

    @extend_schema(request=s.FeedbackSerializer, responses={200: None, 410: None})
    def post(self, request, tenant, controller_id, action_id):
        body = s.FeedbackSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            update = services.deployment_feedback(self.device, _action_id(action_id), **body.flat())
        except services.ActionGone as gone:
            return Response(
                {"detail": f"The action is already closed ({gone})."}, status=status.HTTP_410_GONE
            )
        return _feedback_response(update)


class CancelActionView(DDIView):
    """A cancellation the device is asked to confirm."""

    @extend_schema(responses=s.CancelActionSerializer, operation_id="ddi_cancel_action")
    def get(self, request, tenant, controller_id, action_id):
        update = services.pending_cancel(self.device)
        if update is None or update.pk != _action_id(action_id):
            raise NotFound(NOT_FOUND)
        return Response({"id": str(update.pk), "cancelAction": {"stopId": str(update.pk)}})


class CancelFeedbackView(DDIView):
    @extend_schema(request=s.FeedbackSerializer, responses={200: None})
    def post(self, request, tenant, controller_id, action_id):
        body = s.FeedbackSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        flat = body.flat()
        flat.pop("progress")
        update = services.cancel_feedback(self.device, _action_id(action_id), **flat)
        return _feedback_response(update)


class ConfigDataView(DDIView):
    """The device's attributes; ``firmware_version`` / ``security_version`` are its heartbeat."""

    @extend_schema(request=s.ConfigDataSerializer, responses={200: None})
    def put(self, request, tenant, controller_id):
        body = s.ConfigDataSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.config_data(self.device, body.validated_data["data"])
        return Response(status=status.HTTP_200_OK)


class ArtifactView(DDIView):
    """Download a release image the target may install (its organization and device type)."""

    def perform_content_negotiation(self, request, force=False):
        # Agents ask for the image (Accept: application/octet-stream); errors are JSON.
        return JSONRenderer(), JSONRenderer.media_type

    def _release(self, module_id, filename):
        device = self.device
        release = FirmwareRelease.objects.filter(
            pk=_action_id(module_id),
            organization_id=device.organization_id,
            device_types=device.device_type_id,
            status__in=OFFERABLE_RELEASE_STATES,
        ).first()
        if release is None or services.artifact_filename(release) != filename:
            raise NotFound("No such artifact for this target.")
        return release

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request, tenant, controller_id, module_id, filename):
        release = self._release(module_id, filename)
        response = FileResponse(
            default_storage.open(release.artifact.name, "rb"),
            content_type="application/octet-stream",
            as_attachment=True,
            filename=filename,
        )
        response["Content-Length"] = str(release.size)
        response["ETag"] = f'"{release.sha256}"'
        return response


class ArtifactMD5View(ArtifactView):
    @extend_schema(responses={(200, "text/plain"): str})
    def get(self, request, tenant, controller_id, module_id, filename):
        release = services.ensure_hashes(self._release(module_id, filename))
        return HttpResponse(f"{release.md5}  {filename}\n", content_type="text/plain")
