"""The back office for devices: a thin shell over the device services.

Lifecycle changes, moves, the checklist and imports go through the same services as the API
and the web UI; the change page carries the lifecycle panel (history, next states, checklist).
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from encompass.admin import ReadOnlyTenantAdmin, TenantAdmin
from encompass.tenancy.access import roles_in

from . import decommissioning, services
from .choices import HEALTH_COLOURS, STATE_COLOURS, ChecklistItem
from .forms import (
    CHECKLIST_FORMS,
    ImportForm,
    MoveForm,
    TransitionForm,
    checklist_arguments,
    checklist_rows,
)
from .imports import COLUMNS, import_devices
from .models import DecommissioningChecklist, Device, DeviceType, LifecycleTransition, Tag


def _badge(colour, label):
    return format_html(
        '<span class="enc-badge" data-css-colour="{}">{}</span>',
        colour,
        label,
    )


def _error_text(exc):
    return "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)


@admin.register(DeviceType)
class DeviceTypeAdmin(TenantAdmin):
    list_display = [
        "__str__",
        "device_class",
        "heartbeat_interval",
        "support_ends_on",
        "supports_certificates",
        "supports_ota",
        "organization",
    ]
    list_filter = ["device_class", "supports_certificates", "supports_ota"]
    search_fields = ["manufacturer", "model", "hardware_revision"]
    list_select_related = ["organization"]


@admin.register(Tag)
class TagAdmin(TenantAdmin):
    list_display = ["name", "organization"]
    search_fields = ["name"]
    list_select_related = ["organization"]


class FirmwareFilter(admin.SimpleListFilter):
    """Firmware versions present in what the user may see (never another tenant's)."""

    title = "firmware"
    parameter_name = "firmware"

    def lookups(self, request, model_admin):
        versions = (
            model_admin.get_queryset(request)
            .exclude(firmware_version="")
            .values_list("firmware_version", flat=True)
            .distinct()
            .order_by("firmware_version")[:50]
        )
        return [(v, v) for v in versions]

    def queryset(self, request, queryset):
        return queryset.filter(firmware_version=self.value()) if self.value() else queryset


class LastSeenFilter(admin.SimpleListFilter):
    title = "last seen"
    parameter_name = "seen"

    def lookups(self, request, model_admin):
        return [
            ("1h", "Within the hour"),
            ("1d", "Within a day"),
            ("old", "Over a day ago"),
            ("never", "Never"),
        ]

    def queryset(self, request, queryset):
        import datetime

        from django.utils import timezone

        now = timezone.now()
        hour, day = now - datetime.timedelta(hours=1), now - datetime.timedelta(days=1)
        return {
            "1h": lambda: queryset.filter(last_seen_at__gte=hour),
            "1d": lambda: queryset.filter(last_seen_at__gte=day),
            "old": lambda: queryset.filter(last_seen_at__lt=day),
            "never": lambda: queryset.filter(last_seen_at__isnull=True),
        }.get(self.value(), lambda: queryset)()


class LifecycleTransitionInline(admin.TabularInline):
    model = LifecycleTransition
    fields = ["created_at", "from_state", "to_state", "actor_label", "reason"]
    readonly_fields = fields
    ordering = ["created_at", "pk"]
    extra = 0
    can_delete = False
    verbose_name_plural = "Lifecycle history"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        # The parent device was found through restrict(); its history goes with it.
        return True


@admin.register(Device)
class DeviceAdmin(TenantAdmin):
    list_display = [
        "name",
        "uid",
        "serial_number",
        "device_type",
        "site",
        "state_badge",
        "health_badge",
        "firmware_version",
        "last_seen_at",
        "organization",
    ]
    list_filter = [
        "state",
        "health",
        ("site", admin.RelatedOnlyFieldListFilter),
        ("device_type", admin.RelatedOnlyFieldListFilter),
        LastSeenFilter,
        FirmwareFilter,
        "criticality",
    ]
    search_fields = ["serial_number", "=uid", "name", "tags__name"]
    list_select_related = ["organization", "site", "device_type"]
    readonly_fields = [
        "uid",
        "state",
        "quarantined_from",
        "state_changed_at",
        "manufacturer",
        "firmware_version",
        "firmware_security_version",
        "last_seen_at",
        "health",
        "token_rotated_at",
    ]
    fieldsets = [
        (
            None,
            {"fields": ["organization", "name", "device_type", "serial_number", "site", "tags"]},
        ),
        (
            "Lifecycle (change it with the panel below)",
            {"fields": ["uid", "state", "quarantined_from", "state_changed_at"]},
        ),
        (
            "Reported",
            {
                "fields": [
                    "manufacturer",
                    "firmware_version",
                    "firmware_security_version",
                    "last_seen_at",
                    "health",
                    "token_rotated_at",
                ]
            },
        ),
        (
            "Ownership",
            {
                "fields": [
                    "owner",
                    "criticality",
                    "network_address",
                    "location_notes",
                    "commissioned_on",
                    "warranty_until",
                ]
            },
        ),
    ]
    inlines = [LifecycleTransitionInline]
    actions = ["transition_selected", "move_selected"]
    change_form_template = "devices/admin/device_change_form.html"
    change_list_template = "devices/admin/device_change_list.html"

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "owner" and field is not None:
            # Only members of the organizations this user sees -- never another tenant's people.
            from encompass.tenancy.models import Organization

            orgs = Organization.objects.restrict(request.user, "view")
            field.queryset = field.queryset.filter(memberships__organization__in=orgs).distinct()
        return field

    @admin.display(description="State", ordering="state")
    def state_badge(self, obj):
        return _badge(STATE_COLOURS[obj.state], obj.get_state_display())

    @admin.display(description="Health", ordering="health")
    def health_badge(self, obj):
        return _badge(HEALTH_COLOURS[obj.health], obj.get_health_display())

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields.append("organization")
        return fields

    # --- writes through the device services ------------------------------------------------------

    def save_model(self, request, obj, form, change):
        data, m2m = self._form_data(form, obj)
        tags = list(m2m["tags"]) if "tags" in m2m else None
        if change:
            data.pop("organization", None)
            saved = services.update_device(obj, data, actor=request.user, tags=tags)
        else:
            saved = services.register_device(actor=request.user, tags=tags or (), **data)
        obj.pk = saved.pk
        obj.refresh_from_db()

    def delete_model(self, request, obj):
        services.delete_device(obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        self.run_service(request, services.delete_device, queryset, "Deleted {count} device(s).")

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except ValidationError as exc:
            self.message_user(request, _error_text(exc), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:devices_device_change", args=[object_id]))

    # --- bulk actions with a confirmation page ---------------------------------------------------

    def _bulk_report(self, request, outcomes, success):
        done = [o for o in outcomes if o.ok]
        for o in outcomes:
            if not o.ok:
                self.message_user(request, f"{o.device}: {o.error}", messages.ERROR)
        if done:
            self.message_user(request, success.format(count=len(done)), messages.SUCCESS)

    @admin.action(description="Change the lifecycle state of the selected devices…")
    def transition_selected(self, request, queryset):
        form = TransitionForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            outcomes = services.bulk_transition(
                list(queryset),
                form.cleaned_data["to"],
                actor=request.user,
                reason=form.cleaned_data["reason"],
            )
            self._bulk_report(request, outcomes, "{count} device(s) changed state.")
            return None
        return self._confirm(request, queryset, form, "transition_selected", "Change state")

    @admin.action(description="Move the selected devices to a site…")
    def move_selected(self, request, queryset):
        form = MoveForm(request.POST if "apply" in request.POST else None, user=request.user)
        if form.is_bound and form.is_valid():
            outcomes = services.bulk_move(
                list(queryset),
                form.cleaned_data["site"],
                actor=request.user,
                reason=form.cleaned_data["reason"],
            )
            self._bulk_report(request, outcomes, "{count} device(s) moved.")
            return None
        return self._confirm(request, queryset, form, "move_selected", "Move")

    def _confirm(self, request, queryset, form, action, title):
        return TemplateResponse(
            request,
            "devices/admin/bulk_confirm.html",
            {
                **self.admin_site.each_context(request),
                "title": f"{title}: {queryset.count()} device(s)",
                "opts": self.model._meta,
                "devices": queryset,
                "form": form,
                "action": action,
                "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            },
        )

    # --- the lifecycle panel and the import page -------------------------------------------------

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("import/", wrap(self.import_view), name="devices_device_import"),
            path(
                "<int:pk>/transition/", wrap(self.transition_view), name="devices_device_transition"
            ),
            path(
                "<int:pk>/checklist/<slug:item>/",
                wrap(self.checklist_view),
                name="devices_device_checklist",
            ),
            *super().get_urls(),
        ]

    def _device(self, request, pk):
        device = self.get_queryset(request).filter(pk=pk).first()
        if device is None:
            raise Http404("No such device.")
        return device

    def _back(self, device):
        return HttpResponseRedirect(reverse("admin:devices_device_change", args=[device.pk]))

    def transition_view(self, request, pk):
        device = self._device(request, pk)
        if request.method != "POST":
            return self._back(device)
        form = TransitionForm(request.POST)
        if form.is_valid():
            try:
                services.transition_device(
                    device,
                    form.cleaned_data["to"],
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                )
                self.message_user(request, f"{device} is now {device.get_state_display().lower()}.")
            except (ValidationError, PermissionDenied) as exc:
                self.message_user(request, _error_text(exc), messages.ERROR)
        else:
            self.message_user(
                request, f"Give a state and a reason: {form.errors.as_text()}", messages.ERROR
            )
        return self._back(device)

    def checklist_view(self, request, pk, item):
        device = self._device(request, pk)
        if request.method != "POST" or item not in ChecklistItem.values:
            return self._back(device)
        form = CHECKLIST_FORMS[item](request.POST, prefix=item)
        if form.is_valid():
            try:
                decommissioning.ITEM_SERVICES[item](
                    device, actor=request.user, **checklist_arguments(form)
                )
                self.message_user(request, f"Recorded: {ChecklistItem(item).label.lower()}.")
            except (ValidationError, PermissionDenied) as exc:
                self.message_user(request, _error_text(exc), messages.ERROR)
        else:
            self.message_user(request, form.errors.as_text(), messages.ERROR)
        return self._back(device)

    def import_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ImportForm(request.POST or None, request.FILES or None, user=request.user)
        report = None
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            report = import_devices(
                upload,
                organization=form.cleaned_data["organization"],
                actor=request.user,
                dry_run=form.cleaned_data["dry_run"],
                filename=upload.name,
            )
            if report.ok and not report.dry_run:
                self.message_user(request, f"Imported {len(report.created)} device(s).")
                return HttpResponseRedirect(reverse("admin:devices_device_changelist"))
        return render(
            request,
            "devices/admin/import.html",
            {
                **self.admin_site.each_context(request),
                "title": "Import devices from CSV",
                "opts": self.model._meta,
                "form": form,
                "report": report,
                "columns": COLUMNS,
            },
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        device = (
            self.get_queryset(request).filter(pk=object_id).first() if object_id.isdigit() else None
        )
        if device is not None:
            roles = roles_in(request.user, device.organization, device.site)
            options = services.available_transitions(device, request.user)
            permitted = [o["to"] for o in options if o["permitted"]]
            checklist = DecommissioningChecklist.objects.filter(device=device).first()
            rows = checklist_rows(checklist, roles)
            extra_context.update(
                lifecycle_options=options,
                transition_form=TransitionForm(targets=permitted) if permitted else None,
                checklist=checklist,
                checklist_rows=rows,
            )
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(LifecycleTransition)
class LifecycleTransitionAdmin(ReadOnlyTenantAdmin):
    list_display = ["created_at", "device", "from_state", "to_state", "actor_label", "reason"]
    list_filter = ["to_state", "from_state"]
    search_fields = [
        "device__name",
        "=device__uid",
        "device__serial_number",
        "actor_label",
        "reason",
    ]
    list_select_related = ["device"]
    date_hierarchy = "created_at"


@admin.register(DecommissioningChecklist)
class DecommissioningChecklistAdmin(ReadOnlyTenantAdmin):
    list_display = [
        "device",
        "created_at",
        "ready",
        "complete_flag",
        "retention_decision",
        "disposal_method",
    ]
    list_filter = ["retention_decision", "disposal_method"]
    search_fields = [
        "device__name",
        "=device__uid",
        "device__serial_number",
        "disposal_certificate_reference",
    ]
    list_select_related = ["device"]

    @admin.display(boolean=True, description="Ready for decommissioned")
    def ready(self, obj):
        return obj.ready_for_decommissioned

    @admin.display(boolean=True, description="Complete")
    def complete_flag(self, obj):
        return obj.complete


__all__ = ["DeviceAdmin", "DeviceTypeAdmin"]
