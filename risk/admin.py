"""Back office for the risk register: thin shells over the same services as the API."""

import datetime

from django.contrib import admin
from django.utils import timezone

from encompass.admin import ReadOnlyTenantAdmin, TenantAdmin

from . import services
from .models import AffectedProduct, Asset, Mitigation, Risk, RiskMatrix, Threat, Vulnerability


@admin.register(Asset)
class AssetAdmin(TenantAdmin):
    list_display = ("name", "kind", "criticality", "organization", "owner")
    list_filter = ("kind", "criticality")
    search_fields = ("name", "description")
    list_select_related = ("organization", "owner")
    raw_id_fields = ("device",)
    actions = ["register_from_inventory"]

    @admin.action(description="Register assets from the inventory (their organizations)")
    def register_from_inventory(self, request, queryset):
        for org in {a.organization for a in queryset}:
            created = services.register_assets_from_inventory(org, actor=request.user)
            self.message_user(request, f"{org}: {len(created)} asset(s) registered.")


@admin.register(Threat)
class ThreatAdmin(TenantAdmin):
    list_display = ("name", "code", "stride", "organization", "catalogue_version")
    list_filter = ("stride",)
    search_fields = ("name", "code", "description")
    list_select_related = ("organization",)


class AffectedProductInline(admin.TabularInline):
    model = AffectedProduct
    fields = ("device_type", "introduced_version", "fixed_version")
    extra = 0

    def has_add_permission(self, request, obj=None):
        return False  # ranges are written by the vulnerability services (API, import)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Vulnerability)
class VulnerabilityAdmin(TenantAdmin):
    list_display = ("identifier", "title", "cvss_score", "severity", "status", "organization")
    list_filter = ("severity", "status")
    search_fields = ("identifier", "title")
    list_select_related = ("organization",)
    readonly_fields = ("severity",)
    inlines = [AffectedProductInline]

    def save_model(self, request, obj, form, change):
        data = {
            k: form.cleaned_data[k]
            for k in services.vulnerabilities.VULNERABILITY_FIELDS
            if k in form.cleaned_data
        }
        if change:
            saved = services.update_vulnerability(obj, actor=request.user, **data)
        else:
            saved = services.create_vulnerability(
                actor=request.user, organization=form.cleaned_data["organization"], **data
            )
        obj.pk = saved.pk
        obj.refresh_from_db()

    def delete_model(self, request, obj):
        services.delete_vulnerability(obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        self.run_service(request, services.delete_vulnerability, queryset, "{count} deleted.")


@admin.register(RiskMatrix)
class RiskMatrixAdmin(TenantAdmin):
    list_display = ("name", "organization", "is_default")
    list_select_related = ("organization",)
    readonly_fields = ("is_default",)
    actions = ["make_default"]

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            saved = services.update_matrix(
                obj,
                actor=request.user,
                name=data["name"],
                description=data["description"],
                definition=data["definition"],
            )
        else:
            saved = services.create_matrix(
                actor=request.user,
                organization=data["organization"],
                name=data["name"],
                description=data["description"],
                definition=data["definition"],
            )
        obj.pk = saved.pk
        obj.refresh_from_db()

    def delete_model(self, request, obj):
        services.delete_matrix(obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        self.run_service(request, services.delete_matrix, queryset, "{count} deleted.")

    @admin.action(description="Make the default matrix of its organization")
    def make_default(self, request, queryset):
        self.run_service(request, services.set_default_matrix, queryset, "{count} made default.")


class MitigationInline(admin.TabularInline):
    model = Mitigation
    fields = ("title", "owner", "due_on", "status")
    readonly_fields = fields
    extra = 0
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Risk)
class RiskAdmin(TenantAdmin):
    list_display = (
        "reference",
        "title",
        "inherent_level",
        "residual_level",
        "treatment",
        "status",
        "owner",
        "review_due_on",
        "organization",
    )
    list_filter = ("inherent_level", "residual_level", "treatment", "status")
    search_fields = ("reference", "title", "scenario")
    list_select_related = ("organization", "owner")
    readonly_fields = (
        "reference",
        "inherent_level",
        "residual_likelihood",
        "residual_impact",
        "residual_level",
        "status",
        "accepted_by",
        "accepted_at",
        "acceptance_expires_at",
        "acceptance_justification",
        "closed_at",
        "closure_reason",
    )
    filter_horizontal = ("assets", "threats", "vulnerabilities")
    inlines = [MitigationInline]
    actions = ["revoke_acceptances", "mark_reviewed_in_90_days"]

    def save_model(self, request, obj, form, change):
        data = dict(form.cleaned_data)
        fields = {
            k: data[k]
            for k in (
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
            if k in data
        }
        if change:
            saved = services.update_risk(
                obj,
                actor=request.user,
                likelihood=data.get("inherent_likelihood"),
                impact=data.get("inherent_impact"),
                **fields,
            )
        else:
            saved = services.create_risk(
                actor=request.user,
                organization=data["organization"],
                matrix=data.get("matrix"),
                likelihood=data["inherent_likelihood"],
                impact=data["inherent_impact"],
                **fields,
            )
        obj.pk = saved.pk
        obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        pass  # links were set by the service

    def delete_model(self, request, obj):
        services.delete_risk(obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        self.run_service(request, services.delete_risk, queryset, "{count} deleted.")

    @admin.action(description="Revoke acceptance")
    def revoke_acceptances(self, request, queryset):
        self.run_service(
            request,
            services.revoke_acceptance,
            queryset,
            "{count} acceptance(s) revoked.",
            reason="Revoked in the admin",
        )

    @admin.action(description="Mark reviewed (next review in 90 days)")
    def mark_reviewed_in_90_days(self, request, queryset):
        self.run_service(
            request,
            services.mark_reviewed,
            queryset,
            "{count} marked reviewed.",
            next_review_on=timezone.localdate() + datetime.timedelta(days=90),
        )


@admin.register(Mitigation)
class MitigationAdmin(TenantAdmin):
    list_display = ("title", "risk", "owner", "due_on", "status", "organization")
    list_filter = ("status",)
    search_fields = ("title", "risk__reference")
    list_select_related = ("organization", "risk", "owner")
    readonly_fields = ("status", "done_at", "done_by", "status_note")
    raw_id_fields = ("devices",)
    actions = ["mark_done", "mark_in_progress"]

    def save_model(self, request, obj, form, change):
        data = dict(form.cleaned_data)
        fields = {
            k: data[k]
            for k in ("title", "description", "owner", "due_on", "requirement_refs", "devices")
            if k in data
        }
        if change:
            saved = services.update_mitigation(obj, actor=request.user, **fields)
        else:
            saved = services.create_mitigation(data["risk"], actor=request.user, **fields)
        obj.pk = saved.pk
        obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        pass

    def delete_model(self, request, obj):
        services.delete_mitigation(obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        self.run_service(request, services.delete_mitigation, queryset, "{count} deleted.")

    @admin.action(description="Mark done")
    def mark_done(self, request, queryset):
        self.run_service(
            request, services.set_mitigation_status, queryset, "{count} done.", status="done"
        )

    @admin.action(description="Mark in progress")
    def mark_in_progress(self, request, queryset):
        self.run_service(
            request,
            services.set_mitigation_status,
            queryset,
            "{count} in progress.",
            status="in_progress",
        )


@admin.register(AffectedProduct)
class AffectedProductAdmin(ReadOnlyTenantAdmin):
    list_display = ("vulnerability", "device_type", "introduced_version", "fixed_version")
    list_select_related = ("vulnerability", "device_type")
