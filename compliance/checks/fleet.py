"""Checks on the fleet registry itself: support periods and devices gone silent."""

from datetime import timedelta

from django.db.models import Q

from devices.choices import ACTIVE_STATES, LifecycleState
from devices.models import Device, DeviceType

from . import any_of, en_18031, outcome_from_devices, reason_case, register, setting


def active_devices(organization):
    return Device.objects.filter(organization=organization, state__in=ACTIVE_STATES)


@register(
    "support-period-ended",
    "No device in service past its support period",
    maps={
        "etsi-en-303-645": ["5.3-13", "5.3-8"],
        **en_18031("GEC-1"),
        "nist-csf": ["ID.AM-08", "PR.PS-03"],
        "iec-62443-4-2": ["EDR 3.10"],
        "iso-27001-annex-a": ["A.8.8"],
    },
    remedy="Replace the devices, or record the manufacturer's extended support date on the type.",
)
def support_period_ended(organization, *, now):
    """Devices in service whose type's security-update support has ended receive no fixes."""
    today = now.date()
    qs = active_devices(organization)
    checked = qs.count()
    ended = DeviceType.objects.filter(organization=organization, support_ends_on__lt=today)
    reason = reason_case(
        [(Q(device_type_id=t.pk), f"{t} support ended on {t.support_ends_on}") for t in ended]
    )
    failing = qs.filter(device_type__in=[t.pk for t in ended]).annotate(finding_reason=reason)
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
        **en_18031("RLM-1", parts=("en-18031-1",)),
        "nist-csf": ["DE.CM-09"],
        "iec-62443-4-2": ["CR 6.2"],
        "iso-27001-annex-a": ["A.8.16"],
    },
    remedy="Visit or power-cycle the devices, check their network, or take them out of service.",
)
def silent_devices(organization, *, now):
    """Deployed devices must report within ``SILENT_AFTER_HEARTBEATS`` of their interval."""
    factor = int(setting("SILENT_AFTER_HEARTBEATS", 3))
    qs = Device.objects.filter(organization=organization, state=LifecycleState.DEPLOYED)
    checked = qs.count()
    # One condition per device type (types are few): silent longer than its own allowance.
    late, branches = [], [(Q(last_seen_at__isnull=True), "never reported since it was deployed")]
    for dtype in DeviceType.objects.filter(organization=organization):
        allowance = timedelta(seconds=dtype.heartbeat_interval * factor)
        condition = Q(device_type_id=dtype.pk, last_seen_at__lt=now - allowance)
        late.append(condition)
        branches.append(
            (
                condition,
                f"silent for over {max(1, int(allowance.total_seconds() // 60))} min "
                f"(heartbeat every {dtype.heartbeat_interval} s)",
            )
        )
    failing = qs.filter(Q(last_seen_at__isnull=True) | any_of(late)).annotate(
        finding_reason=reason_case(branches)
    )
    return outcome_from_devices(
        failing,
        checked,
        "All {checked} deployed devices reported within their heartbeat.",
        "{n} of {checked} deployed devices are silent.",
        {"silent_after_heartbeats": factor},
    )
