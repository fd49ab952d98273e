"""Checks on the fleet registry itself: support periods and devices gone silent."""

from datetime import timedelta

from django.db.models import Q

from devices.choices import ACTIVE_STATES, LifecycleState
from devices.models import Device

from . import device_row, outcome_from_devices, register, setting


def active_devices(organization):
    return Device.objects.filter(organization=organization, state__in=ACTIVE_STATES)


@register(
    "support-period-ended",
    "No device in service past its support period",
    maps={
        "etsi-en-303-645": ["5.3-13", "5.3-8"],
        "nist-csf": ["ID.AM-08", "PR.PS-03"],
        "iec-62443-4-2": ["EDR 3.10"],
        "iso-27001-annex-a": ["A.8.8"],
    },
    remedy="Replace the devices, or record the manufacturer's extended support date on the type.",
)
def support_period_ended(organization, *, now):
    """Devices in service whose type's security-update support has ended receive no fixes."""
    today = now.date()
    qs = active_devices(organization).select_related("device_type")
    checked = qs.count()
    failing = [
        device_row(d, f"{d.device_type} support ended on {d.device_type.support_ends_on}")
        for d in qs.filter(device_type__support_ends_on__lt=today)
    ]
    unknown = qs.filter(device_type__support_ends_on__isnull=True).count()
    return outcome_from_devices(
        failing,
        checked,
        "All {checked} devices in service are within their support period.",
        "{n} of {checked} devices in service are past their support period.",
        {"without_support_date": unknown},
    )


@register(
    "silent-devices",
    "No deployed device silent beyond its heartbeat",
    maps={
        "etsi-en-303-645": ["5.10-1"],
        "nist-csf": ["DE.CM-09"],
        "iec-62443-4-2": ["CR 6.2"],
        "iso-27001-annex-a": ["A.8.16"],
    },
    remedy="Visit or power-cycle the devices, check their network, or take them out of service.",
)
def silent_devices(organization, *, now):
    """Deployed devices must report within ``SILENT_AFTER_HEARTBEATS`` of their interval."""
    factor = int(setting("SILENT_AFTER_HEARTBEATS", 3))
    qs = Device.objects.filter(
        organization=organization, state=LifecycleState.DEPLOYED
    ).select_related("device_type")
    checked = qs.count()
    failing = []
    # The shortest allowed silence bounds the query; each device's own interval decides.
    shortest = timedelta(seconds=5 * factor)
    candidates = qs.filter(Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=now - shortest))
    for d in candidates:
        interval = d.device_type.heartbeat_interval
        if d.last_seen_at is None:
            reason = "never reported since it was deployed"
        elif now - d.last_seen_at > timedelta(seconds=interval * factor):
            minutes = int((now - d.last_seen_at).total_seconds() // 60)
            reason = f"last seen {minutes} min ago (heartbeat every {interval} s)"
        else:
            continue
        failing.append(device_row(d, reason))
    return outcome_from_devices(
        failing,
        checked,
        "All {checked} deployed devices reported within their heartbeat.",
        "{n} of {checked} deployed devices are silent.",
        {"silent_after_heartbeats": factor},
    )
