from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError

from encompass.api.viewsets import TenantReadOnlyViewSet
from encompass.audit.exports import export_entries
from encompass.audit.filters import AuditEntryFilter
from encompass.audit.models import AuditEntry
from encompass.exceptions import NotPermitted
from encompass.tenancy.access import allowed_roles, roles_in
from encompass.tenancy.models import Organization

from .serializers import AuditEntrySerializer


class AuditEntryViewSet(TenantReadOnlyViewSet):
    """The audit trail of the organizations you may audit (Admin, Security officer, Auditor)."""

    queryset = AuditEntry.objects.select_related("organization")
    serializer_class = AuditEntrySerializer
    filterset_class = AuditEntryFilter
    search_fields = ["object_repr", "actor_label", "action"]
    ordering_fields = ["id", "created_at"]

    @extend_schema(
        parameters=[
            OpenApiParameter("organization", int, required=True),
            # Not "format": DRF reserves that query parameter for choosing a renderer.
            OpenApiParameter("as", str, enum=["csv", "json"], description="default csv"),
        ],
        responses={(200, "text/csv"): str},
    )
    @action(detail=False, methods=["get"])
    def export(self, request):
        """Download the (filtered) trail of one organization; the export is audited."""
        org_id = request.query_params.get("organization")
        org = (
            Organization.objects.restrict(request.user).filter(pk=org_id).first()
            if (org_id and org_id.isdigit())
            else None
        )
        if org is None:
            raise ValidationError({"organization": "Choose an organization you may audit."})
        if not roles_in(request.user, org) & set(allowed_roles(AuditEntry, "export")):
            raise NotPermitted("Your role may not export this organization's audit trail.")
        fmt = request.query_params.get("as", "csv")
        if fmt not in {"csv", "json"}:
            raise ValidationError({"as": "Use csv or json."})
        qs = self.filter_queryset(self.get_queryset()).filter(organization=org)
        body = export_entries(qs, actor=request.user, organization=org, fmt=fmt)
        content_type = "text/csv" if fmt == "csv" else "application/json"
        response = HttpResponse(body, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="audit-{org.slug}.{fmt}"'
        return response
