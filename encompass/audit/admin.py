"""The audit trail in the admin: browse and filter (read-only), export as CSV (itself audited)."""

from django.contrib import admin, messages
from django.http import HttpResponse

from encompass.admin import ReadOnlyTenantAdmin
from encompass.tenancy.access import allowed_roles, roles_in

from .exports import export_entries
from .models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyTenantAdmin):
    list_display = [
        "created_at",
        "organization",
        "actor_label",
        "action",
        "object_repr",
        "ip",
        "channel",
    ]
    list_filter = ["channel", "organization", "object_type"]
    search_fields = ["action", "actor_label", "object_repr", "object_id", "request_id"]
    date_hierarchy = "created_at"
    list_select_related = ["organization"]
    actions = ["export_csv"]
    fields = [
        "organization",
        "chain",
        "sequence",
        "created_at",
        "actor_label",
        "action",
        "object_type",
        "object_id",
        "object_repr",
        "changes",
        "ip",
        "user_agent",
        "request_id",
        "channel",
        "api_key_id",
        "prev_hash",
        "entry_hash",
    ]
    readonly_fields = fields

    def get_actions(self, request):
        # Export is a read: ReadOnlyTenantAdmin's lack of change permission must not hide it.
        actions = super().get_actions(request)
        return actions

    @admin.action(description="Export selected entries as CSV (audited)")
    def export_csv(self, request, queryset):
        org_ids = set(queryset.values_list("organization", flat=True))
        if len(org_ids) != 1 or None in org_ids:
            self.message_user(
                request,
                "Export the entries of one organization at a time (filter by organization).",
                messages.ERROR,
            )
            return None
        organization = queryset.first().organization
        if not roles_in(request.user, organization) & set(allowed_roles(AuditEntry, "export")):
            self.message_user(request, "Your role may not export this trail.", messages.ERROR)
            return None
        body = export_entries(queryset, actor=request.user, organization=organization, fmt="csv")
        response = HttpResponse(body, content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="audit-{organization.slug}.csv"'
        return response
