"""Back office for firmware: thin shells over the services (uploads go through the API / UI,
where the signature is verified)."""

from django.contrib import admin, messages

from encompass.admin import ReadOnlyTenantAdmin, TenantAdmin

from . import services
from .ddi.tokens import create_gateway_token, revoke_gateway_token
from .models import (
    DeviceUpdate,
    FirmwareRelease,
    GatewayToken,
    Rollout,
    RolloutWave,
    SigningKey,
)


@admin.register(SigningKey)
class SigningKeyAdmin(TenantAdmin):
    list_display = ("name", "organization", "custody", "fingerprint", "status", "created_at")
    list_filter = ("status", "custody")
    search_fields = ("name", "fingerprint")
    list_select_related = ("organization",)
    readonly_fields = ("custody", "fingerprint", "status", "revoked_at", "revoked_reason")
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "public_key") if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        saved = services.register_signing_key(
            organization=form.cleaned_data["organization"],
            name=form.cleaned_data["name"],
            public_key=form.cleaned_data["public_key"],
            description=form.cleaned_data.get("description", ""),
            actor=request.user,
        )
        obj.pk = saved.pk
        obj.refresh_from_db()

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset):
        self.run_service(
            request,
            services.revoke_signing_key,
            queryset,
            "Revoked {count} key(s).",
            reason="Revoked in the admin",
        )


@admin.register(FirmwareRelease)
class FirmwareReleaseAdmin(TenantAdmin):
    list_display = (
        "version",
        "security_version",
        "organization",
        "status",
        "size",
        "uploaded_by",
        "approved_by",
        "created_at",
    )
    list_filter = ("status",)
    search_fields = ("version", "sha256", "release_notes")
    list_select_related = ("organization", "uploaded_by", "approved_by")
    readonly_fields = (
        "organization",
        "version",
        "security_version",
        "size",
        "sha256",
        "signature",
        "signing_key",
        "status",
        "uploaded_by",
        "approved_by",
        "approved_at",
        "metadata",
        "status_reason",
    )
    fields = (*readonly_fields, "release_notes", "cves_fixed")
    actions = ["approve", "deprecate"]

    def has_add_permission(self, request):
        return False  # upload with its signature through the API or the web UI

    @admin.action(description="Approve the selected releases (four eyes)")
    def approve(self, request, queryset):
        self.run_service(request, services.approve_release, queryset, "Approved {count}.")

    @admin.action(description="Deprecate the selected releases")
    def deprecate(self, request, queryset):
        self.run_service(
            request,
            services.deprecate_release,
            queryset,
            "Deprecated {count}.",
            reason="Deprecated in the admin",
        )


class WaveInline(admin.TabularInline):
    model = RolloutWave
    extra = 0
    can_delete = False
    fields = ("number", "planned", "status", "started_at", "finished_at", "accepted_failures")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Rollout)
class RolloutAdmin(TenantAdmin):
    list_display = ("name", "organization", "release", "device_type", "status", "started_at")
    list_filter = ("status",)
    search_fields = ("name",)
    list_select_related = ("organization", "release", "device_type")
    readonly_fields = ("status", "status_reason", "started_at", "finished_at", "rollback_of")
    inlines = [WaveInline]
    actions = ["start", "pause", "resume", "abort"]

    def has_add_permission(self, request):
        return False  # created through the API or the web UI (the service validates targets)

    @admin.action(description="Start the selected draft rollouts")
    def start(self, request, queryset):
        self.run_service(request, services.start_rollout, queryset, "Started {count}.")

    @admin.action(description="Pause the selected rollouts")
    def pause(self, request, queryset):
        self.run_service(
            request,
            services.pause_rollout,
            queryset,
            "Paused {count}.",
            reason="Paused in the admin",
        )

    @admin.action(description="Resume the selected rollouts")
    def resume(self, request, queryset):
        self.run_service(
            request,
            services.resume_rollout,
            queryset,
            "Resumed {count}.",
            reason="Resumed in the admin",
        )

    @admin.action(description="Abort the selected rollouts")
    def abort(self, request, queryset):
        self.run_service(
            request,
            services.abort_rollout,
            queryset,
            "Aborted {count}.",
            reason="Aborted in the admin",
        )


@admin.register(DeviceUpdate)
class DeviceUpdateAdmin(ReadOnlyTenantAdmin):
    list_display = ("device", "rollout", "wave", "release", "status", "offered_at", "finished_at")
    list_filter = ("status",)
    search_fields = ("device__name", "device__uid")
    list_select_related = ("device", "rollout", "wave", "release")


@admin.register(GatewayToken)
class GatewayTokenAdmin(TenantAdmin):
    """hawkBit DDI gateway tokens: the secret is shown once, in the message after saving."""

    list_display = ("name", "organization", "prefix", "revoked_at", "last_used_at", "created_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix")
    list_select_related = ("organization",)
    fields = ("organization", "name", "prefix", "revoked_at", "revoked_reason", "last_used_at")
    readonly_fields = ("prefix", "revoked_at", "revoked_reason", "last_used_at")
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "organization", "name") if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            return None  # nothing of a token is edited in place: revoke it and make another
        saved, token = create_gateway_token(
            organization=form.cleaned_data["organization"],
            name=form.cleaned_data["name"],
            actor=request.user,
        )
        obj.pk = saved.pk
        obj.refresh_from_db()
        self.message_user(
            request,
            f"Gateway token for {saved.name}: {token} -- copy it now, it is not shown again "
            f'(SWUpdate: -u "... -g {token}").',
            messages.WARNING,
        )
        return None

    @admin.action(description="Revoke the selected gateway tokens")
    def revoke(self, request, queryset):
        self.run_service(
            request,
            revoke_gateway_token,
            queryset,
            "Revoked {count} gateway token(s).",
            reason="Revoked in the admin",
        )
