from django.contrib import admin

from encompass.admin import ReadOnlyTenantAdmin, TenantAdmin

from . import services
from .models import Alert, AlertRule


@admin.register(AlertRule)
class AlertRuleAdmin(TenantAdmin):
    list_display = ["name", "kind", "metric", "severity", "enabled", "auto_resolve", "organization"]
    list_filter = ["kind", "severity", "enabled"]
    search_fields = ["name", "metric"]
    list_select_related = ["organization"]
    fieldsets = [
        (None, {"fields": ["organization", "name", "description", "enabled", "kind", "severity"]}),
        (
            "Condition",
            {
                "fields": [
                    "metric",
                    "comparison",
                    "threshold",
                    "window_minutes",
                    "count",
                    "signal",
                    "sigma",
                    "min_samples",
                    "expected_firmware",
                    "days_before",
                    "auto_resolve",
                ]
            },
        ),
        ("Which devices", {"fields": ["device_type", "site", "tag"]}),
    ]


@admin.register(Alert)
class AlertAdmin(ReadOnlyTenantAdmin):
    list_display = ["title", "severity", "status", "count", "last_seen_at", "device", "source"]
    list_filter = ["status", "severity", "source"]
    search_fields = ["title", "dedupe_key", "device__uid", "device__name"]
    list_select_related = ["device"]
    actions = ["acknowledge", "resolve"]

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Acknowledge selected alerts")
    def acknowledge(self, request, queryset):
        self.run_service(
            request,
            services.acknowledge_alert,
            queryset,
            "Acknowledged {count} alert(s).",
        )

    @admin.action(description="Resolve selected alerts")
    def resolve(self, request, queryset):
        self.run_service(
            request,
            services.resolve_alert,
            queryset,
            "Resolved {count} alert(s).",
            resolution="Resolved in the admin.",
        )
