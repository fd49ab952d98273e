"""REST endpoints of the risk register: declarations over the services."""

import io

from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.response import Response

from devices.models import Device
from encompass import spreadsheet
from encompass.api.pagination import CursorPagination
from encompass.api.parsers import FormParser, JSONParser, MultiPartParser
from encompass.api.viewsets import TenantViewSet
from encompass.tenancy.models import Organization

from .. import services
from ..exports import export_rows, record_export
from ..imports import ImportRejected, import_vulnerabilities
from ..models import Asset, Mitigation, Risk, RiskMatrix, Threat, Vulnerability
from .filters import AffectedDeviceFilter, MitigationFilter, RiskFilter, VulnerabilityFilter
from .serializers import (
    AcceptSerializer,
    AffectedDeviceSerializer,
    AssetSerializer,
    ImportSerializer,
    MitigationSerializer,
    MitigationStatusSerializer,
    ReasonSerializer,
    RegisterAssetsSerializer,
    ResidualSerializer,
    ReviewSerializer,
    RiskMatrixSerializer,
    RiskSerializer,
    ThreatSerializer,
    VulnerabilitySerializer,
)


def _organization(request, given):
    """The organization named in a payload, or the caller's only one."""
    if given is not None:
        if not Organization.objects.restrict(request.user, "view").filter(pk=given.pk).exists():
            from rest_framework.exceptions import NotFound

            raise NotFound("No such organization.")
        return given
    reachable = list(Organization.objects.restrict(request.user, "view")[:2])
    if len(reachable) != 1:
        from rest_framework.exceptions import ValidationError

        raise ValidationError({"organization": "Say which organization this belongs to."})
    return reachable[0]


class AssetViewSet(TenantViewSet):
    """What the register protects. ``register-from-inventory`` adds device types, sites and
    critical devices (idempotent)."""

    queryset = Asset.objects.select_related("device", "device_type", "site", "owner").annotate(
        risk_count=Count("risks", distinct=True)
    )
    serializer_class = AssetSerializer
    filterset_fields = ["organization", "kind", "criticality", "device", "device_type", "site"]
    search_fields = ["name", "description"]
    ordering_fields = ["name", "kind", "criticality", "created_at"]

    @extend_schema(request=RegisterAssetsSerializer, responses=AssetSerializer(many=True))
    @action(detail=False, methods=["post"], url_path="register-from-inventory")
    def register_from_inventory(self, request):
        params = RegisterAssetsSerializer(data=request.data, context=self.get_serializer_context())
        params.is_valid(raise_exception=True)
        organization = _organization(request, params.validated_data.get("organization"))
        kwargs = {}
        if params.validated_data.get("kinds"):
            kwargs["kinds"] = params.validated_data["kinds"]
        created = services.register_assets_from_inventory(
            organization, actor=request.user, **kwargs
        )
        return Response(
            AssetSerializer(created, many=True, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
        )


class ThreatViewSet(TenantViewSet):
    """The shipped IoT threat catalogue (read-only, ``shipped: true``) and your own threats."""

    queryset = Threat.objects.all()
    serializer_class = ThreatSerializer
    filterset_fields = ["organization", "stride", "code"]
    search_fields = ["name", "code", "description"]


class AffectedDevicePagination(CursorPagination):
    ordering = "pk"


class VulnerabilityViewSet(TenantViewSet):
    """Vulnerabilities with the device types and firmware ranges they affect; the affected
    devices are computed live from the fleet."""

    queryset = Vulnerability.objects.prefetch_related("affected_products")
    serializer_class = VulnerabilitySerializer
    filterset_class = VulnerabilityFilter
    search_fields = ["identifier", "title", "description"]
    ordering_fields = ["cvss_score", "identifier", "published_on", "created_at"]

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        rows = page if page is not None else list(queryset)
        context = {**self.get_serializer_context(), "exposure": services.exposure_counts(rows)}
        data = self.get_serializer_class()(rows, many=True, context=context).data
        return self.get_paginated_response(data) if page is not None else Response(data)

    @staticmethod
    def _fields(data):
        data = dict(data)
        data.pop("organization", None)
        affected = data.pop("affected_products", None)
        return data, affected

    def perform_create(self, serializer):
        fields, affected = self._fields(serializer.validated_data)
        serializer.instance = services.create_vulnerability(
            actor=self.request.user,
            organization=serializer.validated_data["organization"],
            affected=affected or [],
            **fields,
        )

    def perform_update(self, serializer):
        fields, affected = self._fields(serializer.validated_data)
        serializer.instance = services.update_vulnerability(
            serializer.instance, actor=self.request.user, affected=affected, **fields
        )

    def perform_destroy(self, instance):
        services.delete_vulnerability(instance, actor=self.request.user)

    @extend_schema(
        responses=AffectedDeviceSerializer(many=True),
        parameters=[OpenApiParameter(n, str) for n in AffectedDeviceFilter.base_filters],
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="affected-devices",
        pagination_class=AffectedDevicePagination,
    )
    def affected_devices(self, request, pk=None):
        """Devices affected now (live), limited to the devices you may see; cursor-paginated,
        filter ``site``, ``device_type``, ``state``, ``firmware_version``, ``unverified``, ``q``.
        The vulnerability's ``affected_device_count`` gives the total."""
        # Not get_object(): the device filters (device_type ...) must not filter vulnerabilities.
        vulnerability = get_object_or_404(self.get_queryset(), pk=pk)
        self.check_object_permissions(request, vulnerability)
        devices = services.affected_devices(
            vulnerability, queryset=Device.objects.restrict(request.user, "view")
        )
        filters = AffectedDeviceFilter(request.query_params, queryset=devices, request=request)
        if not filters.is_valid():
            raise DRFValidationError(filters.errors)
        page = self.paginate_queryset(filters.qs)
        return self.get_paginated_response(AffectedDeviceSerializer(page, many=True).data)

    @extend_schema(
        request={"multipart/form-data": ImportSerializer},
        responses={201: OpenApiResponse(description="Import report"), 400: None},
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        url_name="import",
        parser_classes=[MultiPartParser, FormParser, JSONParser],
    )
    def import_feed(self, request):
        """Import a JSON or CSV feed: all rows or none; every bad row is listed."""
        params = ImportSerializer(data=request.data, context=self.get_serializer_context())
        params.is_valid(raise_exception=True)
        organization = _organization(request, params.validated_data.get("organization"))
        upload = params.validated_data["file"]
        try:
            report = import_vulnerabilities(
                organization,
                upload.read(),
                actor=request.user,
                filename=upload.name,
                ignore_unknown_device_types=params.validated_data["ignore_unknown_device_types"],
            )
        except ImportRejected as exc:
            return Response(
                {"detail": "Nothing was imported.", "errors": [e.as_dict() for e in exc.errors]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response(report.as_dict(), status=status.HTTP_201_CREATED)


class RiskMatrixViewSet(TenantViewSet):
    """Likelihood × impact matrices as data; changing one re-grades the risks on it."""

    queryset = RiskMatrix.objects.all()
    serializer_class = RiskMatrixSerializer
    filterset_fields = ["organization", "is_default"]

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = services.create_matrix(
            actor=self.request.user,
            organization=data["organization"],
            name=data["name"],
            description=data.get("description", ""),
            definition=data["definition"],
            is_default=data.get("is_default", False),
        )

    def perform_update(self, serializer):
        data = serializer.validated_data
        matrix = services.update_matrix(
            serializer.instance,
            actor=self.request.user,
            name=data.get("name"),
            description=data.get("description"),
            definition=data.get("definition"),
        )
        if data.get("is_default") and not matrix.is_default:
            matrix = services.set_default_matrix(matrix, actor=self.request.user)
        serializer.instance = matrix

    def perform_destroy(self, instance):
        services.delete_matrix(instance, actor=self.request.user)


RISK_WRITABLE = (
    "title",
    "scenario",
    "source",
    "current_controls",
    "owner",
    "treatment",
    "review_due_on",
    "assets",
    "threats",
    "vulnerabilities",
)


class RiskViewSet(TenantViewSet):
    """The risk register. Assessment, acceptance, review and closure are actions."""

    queryset = Risk.objects.select_related("matrix", "owner", "accepted_by").prefetch_related(
        "assets", "threats", "vulnerabilities"
    )
    serializer_class = RiskSerializer
    object_action = None  # set per action (accept: the service checks the role)
    filterset_class = RiskFilter
    search_fields = ["reference", "title", "scenario", "source"]
    ordering_fields = ["reference", "inherent_level", "residual_level", "review_due_on"]

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = services.create_risk(
            actor=self.request.user,
            organization=data["organization"],
            matrix=data.get("matrix"),
            likelihood=data["inherent_likelihood"],
            impact=data["inherent_impact"],
            **{k: data[k] for k in RISK_WRITABLE if k in data},
        )

    def perform_update(self, serializer):
        data = serializer.validated_data
        if "matrix" in data and data["matrix"] != serializer.instance.matrix:
            from rest_framework.exceptions import ValidationError

            raise ValidationError({"matrix": "A risk stays on the matrix it was assessed on."})
        serializer.instance = services.update_risk(
            serializer.instance,
            actor=self.request.user,
            likelihood=data.get("inherent_likelihood"),
            impact=data.get("inherent_impact"),
            **{k: data[k] for k in RISK_WRITABLE if k in data},
        )

    def perform_destroy(self, instance):
        services.delete_risk(instance, actor=self.request.user)

    def _respond(self, risk):
        return Response(self.get_serializer(risk).data)

    @extend_schema(request=AcceptSerializer, responses=RiskSerializer)
    @action(detail=True, methods=["post"], object_action="view")
    def accept(self, request, pk=None):
        """Accept the risk until ``expires_at`` (Security officer; treatment must be accept)."""
        body = AcceptSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._respond(
            services.accept_risk(self.get_object(), actor=request.user, **body.validated_data)
        )

    @extend_schema(request=ReasonSerializer, responses=RiskSerializer)
    @action(detail=True, methods=["post"], url_path="revoke-acceptance", object_action="change")
    def revoke_acceptance(self, request, pk=None):
        body = ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._respond(
            services.revoke_acceptance(self.get_object(), actor=request.user, **body.validated_data)
        )

    @extend_schema(request=ResidualSerializer, responses=RiskSerializer)
    @action(detail=True, methods=["post"], object_action="change")
    def residual(self, request, pk=None):
        """Record the residual likelihood and impact (never above the inherent ones)."""
        body = ResidualSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._respond(
            services.assess_residual(self.get_object(), actor=request.user, **body.validated_data)
        )

    @extend_schema(request=ReviewSerializer, responses=RiskSerializer)
    @action(detail=True, methods=["post"], object_action="change")
    def review(self, request, pk=None):
        body = ReviewSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._respond(
            services.mark_reviewed(self.get_object(), actor=request.user, **body.validated_data)
        )

    @extend_schema(request=ReasonSerializer, responses=RiskSerializer)
    @action(detail=True, methods=["post"], object_action="change")
    def close(self, request, pk=None):
        body = ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._respond(
            services.close_risk(self.get_object(), actor=request.user, **body.validated_data)
        )

    @extend_schema(request=ReasonSerializer, responses=RiskSerializer)
    @action(detail=True, methods=["post"], object_action="change")
    def reopen(self, request, pk=None):
        body = ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._respond(
            services.reopen_risk(self.get_object(), actor=request.user, **body.validated_data)
        )

    @extend_schema(responses={(200, "text/csv"): OpenApiResponse(description="CSV")})
    @action(detail=False, methods=["get"], url_path="export")
    def export(self, request):
        """The (filtered) register as CSV; the export is audited."""
        risks = self.filter_queryset(self.get_queryset()).restrict(request.user, "export")
        rows = export_rows(risks)
        buffer = io.StringIO()
        writer = spreadsheet.writer(buffer)
        writer.writerows(rows)
        record_export(request.user, risks, fmt="csv", query=request.GET.urlencode())
        response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="risk-register.csv"'
        return response


class MitigationViewSet(TenantViewSet):
    """Treatment-plan actions with owners and due dates; ``status`` moves them along."""

    queryset = Mitigation.objects.select_related("risk", "owner", "done_by").prefetch_related(
        "devices"
    )
    serializer_class = MitigationSerializer
    object_action = None
    filterset_class = MitigationFilter
    search_fields = ["title", "description", "risk__reference"]
    ordering_fields = ["due_on", "status", "created_at"]

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("organization", None)
        risk = data.pop("risk")
        serializer.instance = services.create_mitigation(risk, actor=self.request.user, **data)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("organization", None)
        data.pop("risk", None)
        serializer.instance = services.update_mitigation(
            serializer.instance, actor=self.request.user, **data
        )

    def perform_destroy(self, instance):
        services.delete_mitigation(instance, actor=self.request.user)

    @extend_schema(request=MitigationStatusSerializer, responses=MitigationSerializer)
    @action(detail=True, methods=["post"], object_action="change")
    def status(self, request, pk=None):
        body = MitigationStatusSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        mitigation = services.set_mitigation_status(
            self.get_object(), actor=request.user, **body.validated_data
        )
        return Response(self.get_serializer(mitigation).data)
