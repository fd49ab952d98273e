"""Web UI: the fleet list, a device's page (timeline, next actions, decommissioning checklist),
CSV import and the asset inventory. Every read goes through ``restrict()``; every write is a
service call."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from encompass.tenancy.access import may, roles_in
from encompass.web.mixins import TenantDetailView
from encompass.web.permits import permits
from encompass.web.tables import FilteredTableView
from encompass.web.tenant import current_organization

from . import decommissioning, forms, services
from .choices import STATE_COLOURS, ChecklistItem, LifecycleState
from .filters import DeviceListFilter
from .forms import CHECKLIST_FORMS, ImportForm, MoveForm, TransitionForm, checklist_arguments
from .imports import COLUMNS, REQUIRED_COLUMNS, import_devices
from .inventory import inventory
from .models import DecommissioningChecklist, Device
from .tables import DeviceTable


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


class DeviceListView(FilteredTableView):
    """The fleet: filters, sortable columns, keyset pages, and state changes or moves of many
    devices at once (``bulk_transition`` / ``bulk_move``, each device through its service)."""

    model = Device
    table_class = DeviceTable
    filterset_class = DeviceListFilter
    template_name = "devices/device_list.html"

    def decorate_queryset(self, qs):
        return qs.select_related("site", "device_type", "organization").prefetch_related("tags")

    def filterset_kwargs(self):
        return {"organization": self.organization}

    def prepare_rows(self, rows):
        user = self.request.user
        self.bulk_verbs = set()
        for device in rows:
            verbs = {v for v in ("transition", "move") if permits(user, v, device)}
            device.bulk_allowed = bool(verbs)
            self.bulk_verbs |= verbs

    def excluded_columns(self):
        return () if getattr(self, "bulk_verbs", None) else ("select",)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        org = self.organization
        context.update(
            can_import=permits(self.request.user, "add", Device, organization=org),
            bulk_verbs=sorted(self.bulk_verbs),
            bulk_states=LifecycleState.choices,
            bulk_sites=forms.MoveForm(user=self.request.user, organization=org)
            .fields["site"]
            .queryset
            if org is not None
            else [],
        )
        return context


BULK_LIMIT = 500


@login_required
@require_POST
def bulk(request):
    """Change the state of, or move, the selected devices; per device through the service, so a
    refusal for one (its state, a guard, the role) is reported and the others go ahead."""
    back = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("devices_ui:list")
    ids = [i for i in request.POST.getlist("ids") if i.isdigit()]
    verb = request.POST.get("verb")
    if verb not in ("transition", "move"):
        messages.error(request, "Choose what to do with the selected devices.")
        return redirect(back)
    if not ids:
        messages.error(request, "Select at least one device.")
        return redirect(back)
    if len(ids) > BULK_LIMIT:
        messages.error(request, f"At most {BULK_LIMIT} devices at once.")
        return redirect(back)
    devices = list(
        Device.objects.restrict(request.user, "view")
        .filter(pk__in=ids)
        .select_related("organization", "site", "device_type")
        .order_by("pk")
    )
    reason = (request.POST.get("reason") or "").strip()
    try:
        if verb == "transition":
            to = request.POST.get("to", "")
            if to not in LifecycleState.values:
                raise ValidationError("Choose the new state.")
            outcomes = services.bulk_transition(devices, to, actor=request.user, reason=reason)
        else:
            site = (
                forms.MoveForm(user=request.user, organization=current_organization(request))
                .fields["site"]
                .queryset.filter(pk=request.POST.get("site") or 0)
                .first()
                if (request.POST.get("site") or "").isdigit()
                else None
            )
            if site is None:
                raise ValidationError("Choose a site of this organization.")
            outcomes = services.bulk_move(devices, site, actor=request.user, reason=reason)
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, _errors(exc))
        return redirect(back)
    done = [o for o in outcomes if o.ok]
    refused = [o for o in outcomes if not o.ok]
    if done:
        what = "changed state" if verb == "transition" else "moved"
        messages.success(request, f"{len(done)} device{'s' if len(done) != 1 else ''} {what}.")
    for outcome in refused[:10]:
        messages.error(request, f"{outcome.device}: {outcome.error}")
    if len(refused) > 10:
        messages.error(request, f"… and {len(refused) - 10} more refused.")
    missing = len(set(ids)) - len(devices)
    if missing:
        messages.error(request, f"{missing} selected device(s) not found.")
    return redirect(back)


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
