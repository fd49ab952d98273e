"""Admin for the compliance app: a thin shell over the same services as the API and web UI."""

from django.contrib import admin
from django.http import HttpResponse

from encompass.admin import ReadOnlyTenantAdmin, TenantAdmin

from .choices import EvidenceKind
from .models import (
    Assessment,
    CheckRun,
    Evidence,
    Framework,
    Requirement,
    RequirementMapping,
    RequirementResult,
    ScoreSnapshot,
)
from .services import assessments as assessment_services
from .services import evidence as evidence_services
from .services.checks import run_checks
from .services.reports import export_report, filename_for


@admin.register(Framework)
class FrameworkAdmin(ReadOnlyTenantAdmin):
    list_display = ("name", "version", "code", "data_revision", "loaded_at")


@admin.register(Requirement)
class RequirementAdmin(ReadOnlyTenantAdmin):
    list_display = (
        "ref",
        "title",
        "framework",
        "obligation",
        "assessable",
        "withdrawn_in_revision",
    )
    list_filter = ("framework", "obligation", "assessable")
    search_fields = ("ref", "title")
    list_select_related = ("framework",)


@admin.register(RequirementMapping)
class RequirementMappingAdmin(ReadOnlyTenantAdmin):
    list_display = ("source", "relation", "target")
    list_filter = ("relation", "source__framework", "target__framework")
    list_select_related = ("source__framework", "target__framework")


class ResultInline(admin.TabularInline):
    model = RequirementResult
    fields = ("requirement", "result", "source", "suggested_result", "owner", "notes")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("requirement", "owner")


@admin.register(Assessment)
class AssessmentAdmin(TenantAdmin):
    list_display = ("name", "organization", "framework", "status", "owner", "updated_at")
    list_filter = ("status", "framework")
    list_select_related = ("organization", "framework", "owner")
    search_fields = ("name",)
    inlines = [ResultInline]
    actions = ["start", "complete", "run_checks_now", "export_csv"]

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            saved = assessment_services.update_assessment(
                obj,
                {k: data[k] for k in ("name", "description", "owner") if k in form.changed_data},
                actor=request.user,
                sites=data.get("sites") if "sites" in form.changed_data else None,
                device_types=data.get("device_types")
                if "device_types" in form.changed_data
                else None,
            )
        else:
            saved = assessment_services.create_assessment(
                data["organization"],
                framework=data["framework"],
                name=data["name"],
                description=data.get("description", ""),
                owner=data.get("owner"),
                sites=data.get("sites") or (),
                device_types=data.get("device_types") or (),
                actor=request.user,
            )
        obj.pk = saved.pk
        obj.refresh_from_db()

    def delete_model(self, request, obj):
        assessment_services.delete_assessment(obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            assessment_services.delete_assessment(obj, actor=request.user)

    @admin.action(description="Start (in progress)")
    def start(self, request, queryset):
        self.run_service(
            request,
            lambda a, actor: assessment_services.change_status(a, "in_progress", actor=actor),
            queryset,
            "{count} assessment(s) started.",
        )

    @admin.action(description="Complete")
    def complete(self, request, queryset):
        self.run_service(
            request,
            lambda a, actor: assessment_services.change_status(a, "completed", actor=actor),
            queryset,
            "{count} assessment(s) completed.",
        )

    @admin.action(description="Run the automated checks now")
    def run_checks_now(self, request, queryset):
        orgs = {a.organization for a in queryset.select_related("organization")}
        self.run_service(
            request, lambda org, actor: run_checks(org, actor=actor), orgs, "Checks ran."
        )

    @admin.action(description="Export the assessment report (CSV)")
    def export_csv(self, request, queryset):
        assessment = queryset.first()
        if queryset.count() != 1:
            self.message_user(request, "Export one assessment at a time.")
            return None
        body = export_report(assessment, actor=request.user, fmt="csv")
        response = HttpResponse(body, content_type="text/csv; charset=utf-8")
        name = filename_for(assessment, "assessment", "csv")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


@admin.register(Evidence)
class EvidenceAdmin(TenantAdmin):
    list_display = ("title", "organization", "kind", "valid_until", "collected_at")
    list_filter = ("kind",)
    list_select_related = ("organization",)
    search_fields = ("title", "sha256")
    readonly_fields = (
        "kind",
        "file",
        "original_name",
        "content_type",
        "size",
        "sha256",
        "url",
        "check_code",
        "check_run",
        "collected_at",
        "added_by",
    )

    def has_add_permission(self, request):
        return False  # added in the web UI or the API, which hash and check uploads

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.kind == EvidenceKind.CHECK_RESULT:
            return False  # written by the checks only (the service refuses any edit)
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.kind == EvidenceKind.CHECK_RESULT:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        data = {
            k: form.cleaned_data[k]
            for k in ("title", "description", "valid_until")
            if k in form.changed_data
        }
        requirements = (
            form.cleaned_data["requirements"] if "requirements" in form.changed_data else None
        )
        evidence_services.update_evidence(
            obj, actor=request.user, requirements=requirements, **data
        )

    def save_related(self, request, form, formsets, change):
        pass  # the service set the requirements

    def delete_model(self, request, obj):
        evidence_services.delete_evidence(obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            evidence_services.delete_evidence(obj, actor=request.user)


@admin.register(CheckRun)
class CheckRunAdmin(ReadOnlyTenantAdmin):
    list_display = ("check_code", "organization", "passed", "failing_count", "ran_at", "ran_by")
    list_filter = ("check_code", "passed")
    list_select_related = ("organization",)


@admin.register(ScoreSnapshot)
class ScoreSnapshotAdmin(ReadOnlyTenantAdmin):
    list_display = ("assessment", "site", "score", "mandatory_score", "reason", "taken_at")
    list_filter = ("reason",)
    list_select_related = ("assessment", "site")
