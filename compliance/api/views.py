"""REST endpoints of the compliance app (mounted under /api/v1/compliance/)."""

from django.http import FileResponse, HttpResponse
from django.shortcuts import get_object_or_404
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from encompass.api.pagination import CursorPagination
from encompass.api.parsers import FormParser, JSONParser, MultiPartParser
from encompass.api.permissions import IsMember
from encompass.api.viewsets import RestrictedViewSetMixin, TenantViewSet
from encompass.tenancy.models import Organization, Site

from ..checks import all_checks
from ..models import (
    Assessment,
    CheckFinding,
    CheckRun,
    Evidence,
    Framework,
    Requirement,
    RequirementMapping,
    RequirementResult,
    ScoreSnapshot,
)
from ..services import assessments as assessment_services
from ..services import evidence as evidence_services
from ..services.checks import run_checks
from ..services.reports import CONTENT_TYPES, export_report, filename_for
from ..services.scoring import compute_score
from . import serializers as s


def _framework_info(assessment):
    fw = assessment.framework
    return {
        "code": fw.code,
        "version": fw.version,
        "data_revision": fw.data_revision,
        "verified_on": fw.verified_on.isoformat() if fw.verified_on else None,
    }


class InOrder(CursorPagination):
    """Catalogue rows and results are created in document order: list them that way."""

    ordering = "pk"


class CatalogueViewSet(RestrictedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    permission_classes = [IsMember]
    pagination_class = InOrder


class FrameworkViewSet(CatalogueViewSet):
    queryset = Framework.objects.all()
    serializer_class = s.FrameworkSerializer
    pagination_class = None


class RequirementFilter(filters.FilterSet):
    framework = filters.CharFilter(field_name="framework__code")
    ref = filters.CharFilter()
    obligation = filters.CharFilter()

    class Meta:
        model = Requirement
        fields = ["framework", "ref", "obligation", "assessable"]


class RequirementViewSet(CatalogueViewSet):
    queryset = Requirement.objects.select_related("framework", "parent").order_by(
        "framework_id", "order"
    )
    serializer_class = s.RequirementSerializer
    filterset_class = RequirementFilter


class MappingFilter(filters.FilterSet):
    framework = filters.CharFilter(method="by_framework")
    ref = filters.CharFilter(method="by_ref")

    def by_framework(self, qs, name, value):
        from django.db.models import Q

        return qs.filter(Q(source__framework__code=value) | Q(target__framework__code=value))

    def by_ref(self, qs, name, value):
        from django.db.models import Q

        return qs.filter(Q(source__ref=value) | Q(target__ref=value))

    class Meta:
        model = RequirementMapping
        fields = ["relation"]


class MappingViewSet(CatalogueViewSet):
    queryset = RequirementMapping.objects.select_related(
        "source__framework", "target__framework"
    ).order_by("pk")
    serializer_class = s.MappingSerializer
    filterset_class = MappingFilter


EXPORT_PARAMS = {"format", "report"}


class AssessmentViewSet(TenantViewSet):
    queryset = Assessment.objects.select_related("framework", "organization").prefetch_related(
        "sites", "device_types"
    )
    serializer_class = s.AssessmentSerializer
    permission_classes = [IsMember]
    filterset_fields = ["status", "framework"]
    object_action = None

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = assessment_services.create_assessment(
            data.pop("organization"),
            actor=self.request.user,
            framework=data.pop("framework"),
            name=data.pop("name"),
            description=data.pop("description", ""),
            owner=data.pop("owner", None),
            sites=data.pop("sites", ()),
            device_types=data.pop("device_types", ()),
        )

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("organization", None)
        data.pop("framework", None)
        sites = data.pop("sites", None)
        device_types = data.pop("device_types", None)
        serializer.instance = assessment_services.update_assessment(
            serializer.instance,
            data,
            actor=self.request.user,
            sites=sites,
            device_types=device_types,
        )

    def perform_destroy(self, instance):
        assessment_services.delete_assessment(instance, actor=self.request.user)

    @action(
        detail=True, methods=["post"], serializer_class=s.StatusSerializer, object_action="change"
    )
    def status(self, request, pk=None):
        """Move the assessment to ``draft``, ``in_progress`` or ``completed``."""
        assessment = self.get_object()
        body = s.StatusSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        updated = assessment_services.change_status(
            assessment, body.validated_data["status"], actor=request.user
        )
        return Response(s.AssessmentSerializer(updated, context={"request": request}).data)

    @action(detail=True, methods=["get"])
    def score(self, request, pk=None):
        """The current score, overall and per site in scope (``?site=<id>`` for one site)."""
        assessment = self.get_object()
        site = None
        if request.query_params.get("site"):
            site = get_object_or_404(
                Site.objects.restrict(request.user, "view"),
                pk=request.query_params["site"],
                organization=assessment.organization,
            )
        return Response(
            {**compute_score(assessment, site).as_dict(), "framework": _framework_info(assessment)}
        )

    @action(detail=True, methods=["get"])
    def export(self, request, pk=None):
        """Download a report: ``?report=assessment|soa&format=csv|json|html|pdf`` (audited)."""
        assessment = self.get_object()
        kind = request.query_params.get("report", "assessment")
        fmt = request.query_params.get("format", "csv")
        body = export_report(assessment, actor=request.user, kind=kind, fmt=fmt)
        response = HttpResponse(body, content_type=CONTENT_TYPES[fmt])
        response["Content-Disposition"] = (
            f'attachment; filename="{filename_for(assessment, kind, fmt)}"'
        )
        return response


class ResultFilter(filters.FilterSet):
    framework = filters.CharFilter(field_name="requirement__framework__code")
    obligation = filters.CharFilter(field_name="requirement__obligation")
    ref = filters.CharFilter(field_name="requirement__ref")

    class Meta:
        model = RequirementResult
        fields = ["assessment", "result", "source"]


class ResultViewSet(
    RestrictedViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Results of assessments; PATCH sets a result (a person's result overrides the checks)."""

    queryset = RequirementResult.objects.select_related(
        "requirement__framework", "assessment"
    ).order_by("assessment_id", "requirement__order")
    serializer_class = s.ResultSerializer
    permission_classes = [IsMember]
    filterset_class = ResultFilter
    pagination_class = InOrder
    http_method_names = ["get", "patch", "post", "head", "options"]
    object_action = None

    def perform_update(self, serializer):
        data = serializer.validated_data
        serializer.instance = assessment_services.set_result(
            serializer.instance,
            actor=self.request.user,
            result_value=data.get("result", serializer.instance.result),
            notes=data.get("notes"),
            justification=data.get("justification"),
            owner=data.get("owner"),
        )

    @action(detail=True, methods=["post"], url_path="revert", object_action="change")
    def revert(self, request, pk=None):
        """Hand the result back to the automated checks."""
        row = self.get_object()
        updated = assessment_services.revert_to_checks(row, actor=request.user)
        return Response(s.ResultSerializer(updated, context={"request": request}).data)


class EvidenceViewSet(TenantViewSet):
    queryset = Evidence.objects.prefetch_related("requirements").order_by("-pk")
    serializer_class = s.EvidenceSerializer
    permission_classes = [IsMember]
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    filterset_fields = ["kind", "assessment", "check_code"]

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = evidence_services.add_evidence(
            data.pop("organization"),
            actor=self.request.user,
            title=data.get("title", ""),
            requirements=data.get("requirements", ()),
            assessment=data.get("assessment"),
            file=data.get("file"),
            url=data.get("url", ""),
            description=data.get("description", ""),
            valid_until=data.get("valid_until"),
        )

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        requirements = data.pop("requirements", None)
        fields = {k: v for k, v in data.items() if k in {"title", "description", "valid_until"}}
        serializer.instance = evidence_services.update_evidence(
            serializer.instance, actor=self.request.user, requirements=requirements, **fields
        )

    def perform_destroy(self, instance):
        evidence_services.delete_evidence(instance, actor=self.request.user)

    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        """The stored file (audited); 404 for links and check results."""
        evidence = self.get_object()
        if not evidence.file:
            raise NotFound("This evidence has no file.")
        evidence_services.record_download(evidence, actor=request.user)
        response = FileResponse(
            evidence.file.open("rb"),
            as_attachment=True,
            filename=evidence.original_name or "evidence",
            content_type=evidence.content_type or "application/octet-stream",
        )
        response["X-Content-Type-Options"] = "nosniff"
        return response


class CheckViewSet(viewsets.ViewSet):
    """The automated checks (definitions), and ``run``: run them now for an organization."""

    permission_classes = [IsMember]
    serializer_class = s.RunChecksSerializer

    def _definition(self, check):
        return {
            "code": check.code,
            "title": check.title,
            "description": check.description,
            "maps": {k: list(v) for k, v in check.maps.items()},
            "device_scoped": check.device_scoped,
            "remedy": check.remedy,
        }

    def list(self, request):
        return Response([self._definition(c) for c in all_checks().values()])

    def retrieve(self, request, pk=None):
        check = all_checks().get(pk)
        if check is None:
            raise NotFound("No such check.")
        return Response(self._definition(check))

    @extend_schema(request=s.RunChecksSerializer, responses={201: s.CheckRunSerializer(many=True)})
    @action(detail=False, methods=["post"], serializer_class=s.RunChecksSerializer)
    def run(self, request):
        body = s.RunChecksSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        orgs = Organization.objects.restrict(request.user, "view")
        org_id = body.validated_data.get("organization")
        if org_id is None:
            reachable = list(orgs[:2])
            if len(reachable) != 1:
                return Response(
                    {"organization": ["Say which organization to check."]},
                    status=status.HTTP_400_BAD_REQUEST,
                )
            organization = reachable[0]
        else:
            organization = get_object_or_404(orgs, pk=org_id)
        runs = run_checks(organization, actor=request.user, codes=body.validated_data.get("checks"))
        return Response(s.CheckRunSerializer(runs, many=True).data, status=status.HTTP_201_CREATED)


class FindingFilter(filters.FilterSet):
    site = filters.NumberFilter(field_name="site_id")
    device_type = filters.NumberFilter(field_name="device_type_id")

    class Meta:
        model = CheckFinding
        fields = ["kind"]


class CheckRunViewSet(RestrictedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Stored runs; ``failing`` is a sample (``failing_truncated``), ``findings`` lists them all."""

    queryset = CheckRun.objects.all()
    serializer_class = s.CheckRunSerializer
    permission_classes = [IsMember]
    filterset_fields = ["check_code", "passed"]

    @extend_schema(responses=s.CheckFindingSerializer(many=True), filters=True)
    @action(
        detail=True,
        methods=["get"],
        serializer_class=s.CheckFindingSerializer,
        pagination_class=InOrder,
    )
    def findings(self, request, pk=None):
        """Every failing item of the run you may see (cursor-paginated; filter ``site``,
        ``device_type``, ``kind``)."""
        run = self.get_object()
        rows = CheckFinding.objects.restrict(request.user, "view").filter(run=run)
        rows = FindingFilter(request.query_params, queryset=rows, request=request).qs
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(s.CheckFindingSerializer(page, many=True).data)


class ScoreSnapshotFilter(filters.FilterSet):
    overall = filters.BooleanFilter(field_name="site", lookup_expr="isnull")

    class Meta:
        model = ScoreSnapshot
        fields = ["assessment", "site", "reason"]


class ScoreSnapshotViewSet(RestrictedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Score history (``?assessment=<id>&overall=true`` for the whole scope)."""

    queryset = ScoreSnapshot.objects.all()
    serializer_class = s.ScoreSnapshotSerializer
    permission_classes = [IsMember]
    filterset_class = ScoreSnapshotFilter
