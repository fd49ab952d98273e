"""REST API over device types, tags and devices. Views parse and call the device services."""

from django.db import models
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import parsers, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from encompass.api.parsers import FormParser, MultiPartParser, read_bounded
from encompass.api.viewsets import TenantViewSet
from encompass.tenancy.models import Organization

from .. import decommissioning, services
from ..choices import ChecklistItem
from ..filters import DeviceFilter, DeviceTypeFilter
from ..imports import COLUMNS, import_devices
from ..inventory import inventory
from ..models import DecommissioningChecklist, Device, DeviceType, Tag
from .serializers import (
    CHECKLIST_ITEM_SERIALIZERS,
    BulkMoveSerializer,
    BulkTransitionSerializer,
    ChecklistSerializer,
    DeviceSerializer,
    DeviceTypeSerializer,
    LifecycleTransitionSerializer,
    TagSerializer,
    TransitionSerializer,
)


class CSVTextParser(parsers.BaseParser):
    """A raw ``text/csv`` body, handed over as bytes (the importer decodes and checks it)."""

    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None):
        if stream is None:
            return {"file": b""}
        return {"file": read_bounded(stream, parser_context["request"])}  # 413 over the limit


class DeviceTypeViewSet(TenantViewSet):
    """Makes and models of devices, with what the platform should expect of them."""

    queryset = DeviceType.objects.select_related("organization")
    serializer_class = DeviceTypeSerializer
    filterset_class = DeviceTypeFilter
    search_fields = ["manufacturer", "model", "hardware_revision"]
    ordering_fields = ["manufacturer", "model", "support_ends_on", "id"]


class TagViewSet(TenantViewSet):
    queryset = Tag.objects.select_related("organization")
    serializer_class = TagSerializer
    filterset_fields = ["organization", "name"]
    search_fields = ["name"]


def _tags(organization, names, actor):
    if names is None:
        return None
    return [services.create_tag(organization, name, actor=actor) for name in names]


class DeviceViewSet(TenantViewSet):
    """The fleet. ``state`` changes only through ``POST /devices/{id}/transition/``."""

    queryset = Device.objects.select_related(
        "organization", "site", "device_type", "owner"
    ).prefetch_related("tags")
    serializer_class = DeviceSerializer
    filterset_class = DeviceFilter
    search_fields = ["serial_number", "=uid", "name", "tags__name"]
    ordering_fields = ["name", "serial_number", "last_seen_at", "state_changed_at", "id"]

    # --- CRUD through the services -----------------------------------------------------------

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        names = data.pop("tags", [])
        organization = data.pop("organization")
        serializer.instance = services.register_device(
            actor=self.request.user,
            organization=organization,
            tags=_tags(organization, names, self.request.user),
            **data,
        )

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        names = data.pop("tags", None)
        data.pop("organization", None)  # the serializer refused a change of organization
        device = serializer.instance
        serializer.instance = services.update_device(
            device,
            data,
            actor=self.request.user,
            tags=_tags(device.organization, names, self.request.user),
        )

    def perform_destroy(self, instance):
        services.delete_device(instance, actor=self.request.user)

    # --- lifecycle -------------------------------------------------------------------------------

    @extend_schema(request=TransitionSerializer, responses=DeviceSerializer)
    @action(detail=True, methods=["post"], object_action="transition")
    def transition(self, request, pk=None):
        """Move the device to another lifecycle state. A refusal names the allowed next states."""
        body = TransitionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        device = services.transition_device(
            self.get_object(),
            body.validated_data["to"],
            actor=request.user,
            reason=body.validated_data["reason"],
        )
        return Response(self.get_serializer(self._reload(device)).data)

    @extend_schema(responses=LifecycleTransitionSerializer(many=True))
    @action(detail=True, methods=["get"])
    def history(self, request, pk=None):
        """Every lifecycle transition of the device, oldest first, with who and why."""
        device = self.get_object()
        rows = device.transitions.order_by("created_at", "pk")
        return Response(LifecycleTransitionSerializer(rows, many=True).data)

    def _reload(self, device):
        return self.get_queryset().get(pk=device.pk)

    # --- decommissioning checklist ---------------------------------------------------------------

    def _checklist(self, device):
        checklist = DecommissioningChecklist.objects.filter(device=device).first()
        if checklist is None:
            raise NotFound(
                "This device has no decommissioning checklist: it was never decommissioned."
            )
        return checklist

    @extend_schema(responses=ChecklistSerializer)
    @action(detail=True, methods=["get"])
    def checklist(self, request, pk=None):
        """The decommissioning checklist (created when the device enters decommissioning)."""
        return Response(ChecklistSerializer(self._checklist(self.get_object())).data)

    @extend_schema(
        request=None,
        responses=ChecklistSerializer,
        parameters=[
            OpenApiParameter("item", str, OpenApiParameter.PATH, enum=ChecklistItem.values)
        ],
        description="Complete one item. Bodies: credentials / rollouts {reason}; data_wipe "
        "{method, attested_by, wiped_on, notes}; retention {decision, justification}; disposal "
        "{method, certificate_reference, handled_by, disposed_on, notes}.",
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"checklist/(?P<item>[a-z_]+)",
        object_action="decommission",
    )
    def checklist_item(self, request, pk=None, item=None):
        if item not in ChecklistItem.values:
            raise NotFound(f"No checklist item {item!r}; items: {', '.join(ChecklistItem.values)}.")
        device = self.get_object()
        self._checklist(device)
        body = CHECKLIST_ITEM_SERIALIZERS[item](data=request.data)
        body.is_valid(raise_exception=True)
        checklist = decommissioning.ITEM_SERVICES[item](
            device, actor=request.user, **body.validated_data
        )
        return Response(ChecklistSerializer(checklist).data)

    # --- credentials -----------------------------------------------------------------------------

    @extend_schema(request=None, responses={200: dict})
    @action(detail=True, methods=["post"], object_action="credentials")
    def token(self, request, pk=None):
        """Issue a new per-device token (the old one stops working). Shown once, in this answer."""
        device, token = services.rotate_device_token(self.get_object(), actor=request.user)
        return Response(
            {
                "device": device.uid,
                "token": token,
                "prefix": device.token_prefix,
                "rotated_at": device.token_rotated_at,
                "usage": f"Authorization: Device {token}",
            }
        )

    # --- bulk operations -------------------------------------------------------------------------

    def _devices(self, ids):
        found = {d.pk: d for d in self.get_queryset().filter(pk__in=ids)}
        missing = [pk for pk in ids if pk not in found]
        if missing:
            raise ValidationError({"devices": [f"Not found: {', '.join(map(str, missing))}."]})
        return [found[pk] for pk in dict.fromkeys(ids)]

    @staticmethod
    def _bulk_answer(outcomes):
        return Response(
            {
                "succeeded": sum(o.ok for o in outcomes),
                "failed": sum(not o.ok for o in outcomes),
                "results": [o.as_dict() for o in outcomes],
            }
        )

    @extend_schema(request=BulkTransitionSerializer, responses={200: dict})
    @action(detail=False, methods=["post"], url_path="bulk-transition")
    def bulk_transition(self, request):
        """Transition many devices; each is reported (a refusal for one does not stop the rest)."""
        body = BulkTransitionSerializer(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        outcomes = services.bulk_transition(
            self._devices(body.validated_data["devices"]),
            body.validated_data["to"],
            actor=request.user,
            reason=body.validated_data["reason"],
        )
        return self._bulk_answer(outcomes)

    @extend_schema(request=BulkMoveSerializer, responses={200: dict})
    @action(detail=False, methods=["post"], url_path="bulk-move")
    def bulk_move(self, request):
        """Move many devices to one site; each is reported."""
        body = BulkMoveSerializer(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        outcomes = services.bulk_move(
            self._devices(body.validated_data["devices"]),
            body.validated_data["site"],
            actor=request.user,
            reason=body.validated_data["reason"],
        )
        return self._bulk_answer(outcomes)

    @extend_schema(
        request={"multipart/form-data": dict, "text/csv": str},
        parameters=[
            OpenApiParameter("organization", int),
            OpenApiParameter("dry_run", bool),
        ],
        responses={201: dict, 200: dict, 400: dict},
        description=f"CSV columns: {', '.join(COLUMNS)}. All or nothing.",
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        parser_classes=[CSVTextParser, MultiPartParser, FormParser],
    )
    def import_csv(self, request):
        """Import devices from CSV (multipart ``file`` or a ``text/csv`` body); ``dry_run`` checks
        only. A bad file imports nothing and lists every bad row with its line number."""
        upload = request.data.get("file")
        if upload is None or upload == b"":
            raise ValidationError(
                {"file": "Send the CSV as a multipart 'file' or a text/csv body."}
            )
        organization = _organization(request)
        dry_run = _truthy(request.query_params.get("dry_run") or request.data.get("dry_run"))
        report = import_devices(
            upload,
            organization=organization,
            actor=request.user,
            dry_run=dry_run,
            filename=getattr(upload, "name", ""),
        )
        if not report.ok:
            code = status.HTTP_400_BAD_REQUEST
        else:
            code = status.HTTP_200_OK if dry_run else status.HTTP_201_CREATED
        return Response(report.as_dict(), status=code)


def _truthy(value):
    return str(value).lower() in {"1", "true", "yes", "on"}


def _organization(request):
    """The organization named by ``?organization=`` or the caller's only one."""
    reachable = Organization.objects.restrict(request.user, "view")
    org_id = request.query_params.get("organization") or request.data.get("organization")
    if org_id:
        org = reachable.filter(pk=org_id).first() if str(org_id).isdigit() else None
        if org is None:
            raise ValidationError({"organization": "No such organization."})
        return org
    orgs = list(reachable[:2])
    if len(orgs) != 1:
        raise ValidationError({"organization": "Say which organization (?organization=<id>)."})
    return orgs[0]


class InventoryView(GenericAPIView):
    """Asset inventory for risk work: device counts by state, type, site, firmware, health,
    criticality, and in-service devices whose type's support has ended."""

    queryset = Device.objects.all()
    filterset_class = DeviceFilter
    pagination_class = None

    def get_queryset(self):
        return Device.objects.restrict(self.request.user, "view")

    @extend_schema(responses={200: dict})
    def get(self, request):
        return Response(inventory(self.filter_queryset(self.get_queryset())))


__all__ = ["DeviceTypeViewSet", "DeviceViewSet", "InventoryView", "TagViewSet", "models"]
