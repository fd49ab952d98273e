from django.contrib import admin
from django.db.models import Q

from encompass.admin import ReadOnlyTenantAdmin, TenantAdmin

from .models import Event, JobAttempt, RetentionPolicy
from .retention import LOG_KINDS, SECURITY_Q, TELEMETRY_KINDS


class EventClassFilter(admin.SimpleListFilter):
    """By the retention classes of event kinds: choices from code, never a DISTINCT over the
    organization's history (which the default filter on ``kind`` runs on every page)."""

    title = "class"
    parameter_name = "class"
    CLASSES = {
        "telemetry": ("Telemetry and heartbeats", Q(kind__in=TELEMETRY_KINDS)),
        "logs": ("Device logs", Q(kind__in=LOG_KINDS)),
        "security": ("Security", SECURITY_Q),
        "platform": (
            "Platform",
            ~Q(kind__in=TELEMETRY_KINDS + LOG_KINDS) & ~SECURITY_Q,
        ),
    }

    def lookups(self, request, model_admin):
        return [(key, label) for key, (label, _) in self.CLASSES.items()]

    def queryset(self, request, queryset):
        chosen = self.CLASSES.get(self.value())
        return queryset.filter(chosen[1]) if chosen else queryset


@admin.register(Event)
class EventAdmin(ReadOnlyTenantAdmin):
    list_display = ["id", "received_at", "kind", "severity", "source", "device", "organization"]
    list_filter = ["severity", "source", EventClassFilter]
    search_fields = ["kind", "event_id", "device__uid", "device__name"]
    list_select_related = ["device", "organization"]
    date_hierarchy = None
    ordering = ["-id"]  # newest first, from the (organization, id) index
    readonly_fields = [f.name for f in Event._meta.fields]
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("device", "organization")


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(TenantAdmin):
    list_display = [
        "organization",
        "telemetry_days",
        "log_days",
        "security_days",
        "platform_days",
        "updated_at",
    ]
    list_select_related = ["organization"]

    def has_add_permission(self, request):
        return False  # one per organization, created with the defaults by the retention job

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(JobAttempt)
class JobAttemptAdmin(admin.ModelAdmin):
    """Background jobs as the worker saw them; filter on *Dead-lettered* for the jobs that
    failed repeatedly (encompass/jobs.py). Platform-wide: superusers only, read-only."""

    list_display = ["name", "func", "state", "attempts", "started_at", "finished_at"]
    list_filter = ["state"]
    search_fields = ["name", "func", "task_id"]
    readonly_fields = [f.name for f in JobAttempt._meta.fields]

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
