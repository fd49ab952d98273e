"""Admin: endpoints are edited and disabled here (created through the API, which shows the secret
once); deliveries are read-only, with a "deliver again" action."""

from django.contrib import admin

from encompass.admin import ReadOnlyTenantAdmin, TenantAdmin

from . import services
from .models import WebhookDelivery, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(TenantAdmin):
    """Create endpoints through the API or ``services.create_webhook_endpoint`` (the secret is
    shown once there); here they are edited and disabled."""

    list_display = ("name", "url", "active", "secret_hint", "organization")
    readonly_fields = ("secret_hint",)

    def has_add_permission(self, request):
        return False

    def save_model(self, request, obj, form, change):
        data, _m2m = self._form_data(form, obj)
        services.update_webhook_endpoint(obj, data, actor=request.user)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyTenantAdmin):
    list_display = (
        "pk",
        "kind",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
    )
    list_filter = ("status",)
    list_select_related = ("endpoint",)
    actions = ["redeliver"]

    @admin.action(description="Deliver again")
    def redeliver(self, request, queryset):
        self.run_service(request, services.redeliver, queryset, "{count} queued again.")
