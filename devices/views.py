"""Web UI: the fleet list, a device's page (timeline, next actions, decommissioning checklist),
CSV import and the asset inventory. Every read goes through ``restrict()``; every write is a
service call."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from encompass.tenancy.access import may, may_anywhere, roles_in
from encompass.web.mixins import TenantDetailView, TenantListView
from encompass.web.tenant import current_organization

from . import decommissioning, forms, services
from .choices import HEALTH_COLOURS, STATE_COLOURS, ChecklistItem, LifecycleState
from .filters import DeviceFilter
from .forms import CHECKLIST_FORMS, ImportForm, MoveForm, TransitionForm, checklist_arguments
from .imports import COLUMNS, REQUIRED_COLUMNS, import_devices
from .inventory import inventory
from .models import DecommissioningChecklist, Device


def _errors(exc):
    return "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)


def _visible_device(request, pk):
    device = (
        Device.objects.restrict(request.user, "view")
        .select_related("organization", "site", "device_type")
        .filter(pk=pk)
        .first()
    )
    if device is None:
        raise Http404("No such device.")
    return device


class DeviceListView(TenantListView):
    model = Device
    template_name = "devices/device_list.html"
    context_object_name = "devices"
    paginate_by = 50

    def get_queryset(self):
        qs = (
            super()
            .get_queryset()
            .select_related("site", "device_type", "organization")
            .prefetch_related("tags")
        )
        self.filterset = DeviceFilter(self.request.GET or None, queryset=qs, request=self.request)
        return self.filterset.qs if self.filterset.is_bound and self.filterset.is_valid() else qs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        query = self.request.GET.copy()
        query.pop("page", None)
        context.update(
            filter=self.filterset,
            query=query.urlencode(),
            state_colours=STATE_COLOURS,
            health_colours=HEALTH_COLOURS,
            can_import=may_anywhere(self.request.user, Device, "add"),
        )
        return context


class DeviceDetailView(TenantDetailView):
    model = Device
    template_name = "devices/device_detail.html"
    context_object_name = "device"

    def get_queryset(self):
        return (
            super()
            .get_queryset()
            .select_related("site", "device_type", "organization", "owner")
            .prefetch_related("tags")
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(device_page_context(self.request, self.object))
        return context


def device_page_context(request, device, **extra):
    user = request.user
    roles = roles_in(user, device.organization, device.site)
    options = services.available_transitions(device, user)
    permitted = [o for o in options if o["permitted"]]
    checklist = DecommissioningChecklist.objects.filter(device=device).first()
    checklist_rows = forms.checklist_rows(checklist, roles)
    return {
        "device": device,
        "transitions": device.transitions.select_related("actor").order_by("created_at", "pk"),
        "options": options,
        "transition_form": TransitionForm(targets=[o["to"] for o in permitted])
        if permitted
        else None,
        "checklist": checklist,
        "checklist_rows": checklist_rows,
        "may_rotate_token": may(user, Device, "credentials", device.organization, device.site)
        and device.state not in (LifecycleState.DECOMMISSIONED, LifecycleState.DISPOSED),
        "may_move": may(user, Device, "move", device.organization, device.site),
        "move_form": MoveForm(user=user, organization=device.organization),
        "state_colours": STATE_COLOURS,
        **extra,
    }


@login_required
@require_POST
def transition(request, pk):
    device = _visible_device(request, pk)
    form = TransitionForm(request.POST)
    if form.is_valid():
        try:
            services.transition_device(
                device,
                form.cleaned_data["to"],
                actor=request.user,
                reason=form.cleaned_data["reason"],
            )
            messages.success(request, f"{device} is now {device.get_state_display().lower()}.")
        except (ValidationError, PermissionDenied) as exc:
            messages.error(request, _errors(exc))
    else:
        messages.error(request, "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
    return redirect("devices_ui:detail", pk=device.pk)


@login_required
@require_POST
def checklist_item(request, pk, item):
    device = _visible_device(request, pk)
    if item not in ChecklistItem.values:
        raise Http404("No such checklist item.")
    form = CHECKLIST_FORMS[item](request.POST, prefix=item)
    if form.is_valid():
        try:
            decommissioning.ITEM_SERVICES[item](
                device, actor=request.user, **checklist_arguments(form)
            )
            messages.success(request, f"Recorded: {ChecklistItem(item).label.lower()}.")
        except (ValidationError, PermissionDenied) as exc:
            messages.error(request, _errors(exc))
    else:
        messages.error(request, "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
    return redirect("devices_ui:detail", pk=device.pk)


@login_required
@require_POST
def move(request, pk):
    device = _visible_device(request, pk)
    form = MoveForm(request.POST, user=request.user, organization=device.organization)
    if form.is_valid():
        try:
            services.move_device(
                device,
                form.cleaned_data["site"],
                actor=request.user,
                reason=form.cleaned_data["reason"],
            )
            messages.success(request, f"{device} moved to {form.cleaned_data['site']}.")
        except (ValidationError, PermissionDenied) as exc:
            messages.error(request, _errors(exc))
    else:
        messages.error(request, "Choose a site.")
    return redirect("devices_ui:detail", pk=device.pk)


@login_required
@require_POST
def rotate_token(request, pk):
    """Show the new token once, on this response only (never in a redirect or the session)."""
    device = _visible_device(request, pk)
    try:
        device, token = services.rotate_device_token(device, actor=request.user)
    except PermissionDenied as exc:
        messages.error(request, str(exc))
        return redirect("devices_ui:detail", pk=device.pk)
    device = _visible_device(request, pk)
    return render(
        request,
        "devices/device_detail.html",
        device_page_context(request, device, new_token=token, organization=device.organization),
    )


@login_required
def import_csv(request):
    organization = current_organization(request)
    form = ImportForm(
        request.POST or None, request.FILES or None, user=request.user, organization=organization
    )
    report = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            report = import_devices(
                upload,
                organization=form.cleaned_data["organization"],
                actor=request.user,
                dry_run=form.cleaned_data["dry_run"],
                filename=upload.name,
            )
        except PermissionDenied as exc:
            messages.error(request, str(exc))
        if report is not None and report.ok and not report.dry_run:
            messages.success(request, f"Imported {len(report.created)} device(s).")
            return redirect("devices_ui:list")
    return render(
        request,
        "devices/import.html",
        {
            "form": form,
            "report": report,
            "columns": COLUMNS,
            "required_columns": REQUIRED_COLUMNS,
            "organization": organization,
        },
    )


@login_required
def inventory_view(request):
    organization = current_organization(request)
    devices = Device.objects.restrict(request.user, "view")
    if organization is not None:
        devices = devices.filter(organization=organization)
    return render(
        request,
        "devices/inventory.html",
        {"organization": organization, "inventory": inventory(devices)},
    )


@login_required
def history_pdf(request, pk):
    """The device's history as a PDF (docs/reports.md); another tenant's device is a 404."""
    from django.http import HttpResponse

    from .history import device_history_pdf

    device = (
        Device.objects.restrict(request.user, "view")
        .select_related("organization", "site", "device_type")
        .filter(pk=pk)
        .first()
    )
    if device is None:
        raise Http404("No such device.")
    content, filename = device_history_pdf(device, actor=request.user)
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
