"""Admin: a thin shell over the incident services (writes go through them; history is read-only)."""

from django.contrib import admin, messages

from encompass.admin import ReadOnlyTenantAdmin, TenantAdmin

from . import services
from .choices import Phase
from .models import (
    ContainmentAction,
    EscalationRule,
    Incident,
    IncidentTask,
    Playbook,
    PlaybookTask,
    SlaBreach,
    SlaPolicy,
    TimelineEntry,
)


class TimelineInline(admin.TabularInline):
    model = TimelineEntry
    fields = ("at", "kind", "actor_label", "text")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Incident)
class IncidentAdmin(TenantAdmin):
    list_display = (
        "reference",
        "title",
        "severity",
        "category",
        "phase",
        "assignee",
        "declared_at",
        "organization",
    )
    list_filter = ("phase", "severity", "category")
    list_select_related = ("organization", "assignee")
    search_fields = ("title", "external_reference")
    readonly_fields = (
        "phase",
        "declared_at",
        "acknowledged_at",
        "contained_at",
        "resolved_at",
        "closed_at",
        "assignee",
        "playbook",
    )
    filter_horizontal = ("affected_devices", "affected_sites")
    exclude = ("source_alerts", "responders")
    inlines = [TimelineInline]
    actions = ["move_to_analysis", "load_playbooks"]

    def save_model(self, request, obj, form, change):
        data, m2m = self._form_data(form, obj)
        if change:
            fields = {k: v for k, v in data.items() if k in services.incidents.EDITABLE_FIELDS}
            saved = services.update_incident(
                obj,
                fields,
                actor=request.user,
                devices=m2m.get("affected_devices"),
                sites=m2m.get("affected_sites"),
            )
        else:
            saved = services.declare_incident(
                organization=data["organization"],
                title=data.get("title", ""),
                severity=data.get("severity", ""),
                category=data.get("category") or "other",
                description=data.get("description", ""),
                external_reference=data.get("external_reference", ""),
                detected_at=data.get("detected_at"),
                actor=request.user,
                devices=m2m.get("affected_devices", ()),
                sites=m2m.get("affected_sites", ()),
            )
        obj.pk = saved.pk
        obj.refresh_from_db()

    @admin.action(description="Move to analysis (triage)")
    def move_to_analysis(self, request, queryset):
        self.run_service(
            request,
            services.change_phase,
            queryset,
            "{count} incident(s) moved.",
            to=Phase.ANALYSIS,
        )

    @admin.action(description="Load the shipped playbooks into these incidents' organizations")
    def load_playbooks(self, request, queryset):
        for org in {i.organization for i in queryset}:
            created, updated = services.load_shipped_playbooks(org, actor=request.user)
            messages.info(request, f"{org}: {created} created, {updated} upgraded")


@admin.register(TimelineEntry)
class TimelineEntryAdmin(ReadOnlyTenantAdmin):
    list_display = ("at", "incident", "kind", "actor_label", "text")
    list_filter = ("kind",)
    list_select_related = ("incident",)


@admin.register(ContainmentAction)
class ContainmentActionAdmin(ReadOnlyTenantAdmin):
    list_display = ("performed_at", "incident", "kind", "target_repr", "reversed_at")
    list_filter = ("kind",)
    list_select_related = ("incident",)


@admin.register(IncidentTask)
class IncidentTaskAdmin(ReadOnlyTenantAdmin):
    list_display = ("title", "incident", "phase", "owner", "due_at", "done")
    list_filter = ("phase", "done")
    list_select_related = ("incident", "owner")


class PlaybookTaskInline(admin.TabularInline):
    model = PlaybookTask
    fields = ("phase", "order", "title", "owner_role", "due_after_minutes")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Playbook)
class PlaybookAdmin(TenantAdmin):
    list_display = ("name", "category", "version", "shipped", "organization")
    list_filter = ("category", "shipped")
    inlines = [PlaybookTaskInline]


@admin.register(PlaybookTask)
class PlaybookTaskAdmin(TenantAdmin):
    list_display = ("title", "playbook", "phase", "order", "owner_role")
    list_select_related = ("playbook",)
    list_filter = ("phase",)


@admin.register(SlaPolicy)
class SlaPolicyAdmin(TenantAdmin):
    list_display = (
        "severity",
        "acknowledge_minutes",
        "contain_minutes",
        "resolve_minutes",
        "organization",
    )


@admin.register(SlaBreach)
class SlaBreachAdmin(ReadOnlyTenantAdmin):
    list_display = ("incident", "metric", "due_at", "detected_at")
    list_select_related = ("incident",)


@admin.register(EscalationRule)
class EscalationRuleAdmin(TenantAdmin):
    list_display = (
        "name",
        "enabled",
        "min_alert_severity",
        "alert_kind_prefix",
        "category",
        "playbook",
    )
    list_select_related = ("playbook",)
