"""Web UI: releases, rollouts (live per-wave progress) and a device's firmware."""

import importlib

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import redirect
from django.views import View

from devices.models import Device, DeviceType
from encompass.web.mixins import TenantDetailView, TenantListView, TenantMixin

from . import services
from .choices import RELEASE_COLOURS, ROLLOUT_COLOURS, UPDATE_COLOURS
from .forms import UploadForm
from .models import DeviceUpdate, FirmwareRelease, Rollout
from .services.progress import progress


class ReleaseListView(TenantListView):
    model = FirmwareRelease
    template_name = "firmware/release_list.html"

    def get_queryset(self):
        return (
            super()
            .get_queryset()
            .select_related("uploaded_by", "approved_by")
            .prefetch_related("device_types")
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["colours"] = RELEASE_COLOURS
        form = UploadForm()
        form.fields["device_types"].queryset = DeviceType.objects.restrict(
            self.request.user
        ).filter(organization=self.organization)
        context["form"] = form
        return context

    def post(self, request):
        form = UploadForm(request.POST, request.FILES)
        form.fields["device_types"].queryset = DeviceType.objects.restrict(request.user).filter(
            organization=self.organization
        )
        if not form.is_valid():
            messages.error(request, "; ".join(f"{k}: {v[0]}" for k, v in form.errors.items()))
            return redirect("firmware_ui:releases")
        data = form.cleaned_data
        try:
            release = services.upload_release(
                organization=self.organization,
                device_types=data["device_types"],
                version=data["version"],
                security_version=data["security_version"],
                artifact=data["artifact"],
                signature=data["signature"],
                release_notes=data["release_notes"],
                cves_fixed=data["cves_fixed"],
                actor=request.user,
            )
        except (ValidationError, PermissionDenied) as exc:
            messages.error(request, _text(exc))
            return redirect("firmware_ui:releases")
        messages.success(request, f"Release {release.version} uploaded; awaiting approval.")
        return redirect("firmware_ui:release", pk=release.pk)


def _text(exc):
    if isinstance(exc, ValidationError) and hasattr(exc, "message_dict"):
        return "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc)


class ReleaseDetailView(TenantDetailView):
    model = FirmwareRelease
    template_name = "firmware/release_detail.html"
    context_object_name = "release"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["colours"] = RELEASE_COLOURS
        context["rollouts"] = (
            Rollout.objects.restrict(self.request.user)
            .filter(release=self.object)
            .select_related("device_type")
        )
        return context


class RolloutListView(TenantListView):
    model = Rollout
    template_name = "firmware/rollout_list.html"

    def get_queryset(self):
        return super().get_queryset().select_related("release", "device_type")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["colours"] = ROLLOUT_COLOURS
        return context


class RolloutDetailView(TenantDetailView):
    model = Rollout
    template_name = "firmware/rollout_detail.html"
    context_object_name = "rollout"

    def get_queryset(self):
        return super().get_queryset().select_related("release", "device_type", "rollback_of")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["waves"] = progress(self.object)
        context["colours"] = ROLLOUT_COLOURS
        context["update_colours"] = UPDATE_COLOURS
        context["recent"] = (
            DeviceUpdate.objects.restrict(self.request.user)
            .filter(rollout=self.object)
            .select_related("device", "wave")
            .order_by("-updated_at")[:25]
        )
        return context


class RolloutProgressView(TenantMixin, View):
    """JSON progress for the live page (refetched when a rollout.* event arrives)."""

    def get(self, request, pk):
        rollout = Rollout.objects.restrict(request.user).filter(pk=pk).first()
        if rollout is None:
            raise Http404
        return JsonResponse(
            {
                "rollout": rollout.pk,
                "status": rollout.status,
                "status_label": rollout.get_status_display(),
                "reason": rollout.status_reason,
                "waves": progress(rollout),
            }
        )


ACTIONS = {
    "start": lambda r, u, reason: services.start_rollout(r, actor=u),
    "pause": lambda r, u, reason: services.pause_rollout(r, actor=u, reason=reason),
    "resume": lambda r, u, reason: services.resume_rollout(r, actor=u, reason=reason),
    "abort": lambda r, u, reason: services.abort_rollout(r, actor=u, reason=reason),
    "approve-wave": lambda r, u, reason: services.approve_wave(r, actor=u, note=reason),
    "rollback": lambda r, u, reason: services.rollback_rollout(r, actor=u, reason=reason),
}


class RolloutActionView(TenantMixin, View):
    def post(self, request, pk, action):
        rollout = Rollout.objects.restrict(request.user).filter(pk=pk).first()
        if rollout is None or action not in ACTIONS:
            raise Http404
        try:
            result = ACTIONS[action](rollout, request.user, request.POST.get("reason", ""))
        except (ValidationError, PermissionDenied) as exc:
            messages.error(request, _text(exc))
            return redirect("firmware_ui:rollout", pk=pk)
        messages.success(request, f"{action.replace('-', ' ').capitalize()}: done.")
        return redirect("firmware_ui:rollout", pk=result.pk)


def _vulnerabilities_for(device):
    """Known vulnerabilities affecting the device, if the risk app offers that (optional)."""
    try:
        risk = importlib.import_module("risk.services")
    except ImportError:
        return None
    func = getattr(risk, "vulnerabilities_affecting", None) or getattr(
        risk, "vulnerabilities_for_device", None
    )
    if func is None:
        return None
    try:
        return list(func(device))
    except Exception:  # an optional panel must not break the device page
        return None


class DeviceFirmwareView(TenantDetailView):
    model = Device
    template_name = "firmware/device_firmware.html"
    context_object_name = "device"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        device = self.object
        context["current_release"] = FirmwareRelease.objects.filter(
            organization_id=device.organization_id,
            device_types=device.device_type_id,
            version=device.firmware_version,
        ).first()
        context["updates"] = (
            DeviceUpdate.objects.restrict(self.request.user)
            .filter(device=device)
            .select_related("rollout", "release", "wave")
            .order_by("-created_at")[:50]
        )
        context["vulnerabilities"] = _vulnerabilities_for(device)
        context["update_colours"] = UPDATE_COLOURS
        return context
