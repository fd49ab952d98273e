"""Checks on device credentials: unique per device, and gone when the device is retired."""

from collections import defaultdict

from django.db.models import Count

from devices.choices import ACTIVE_STATES, LifecycleState
from devices.models import Device

from . import device_row, outcome_from_devices, register
from .certificates import certificates_model, finding_rows, identity_checks

# Retiring devices count too: their credentials must be gone before they leave service.
RETIRED_STATES = (
    LifecycleState.DECOMMISSIONING,
    LifecycleState.DECOMMISSIONED,
    LifecycleState.DISPOSED,
)


@register(
    "unique-device-credentials",
    "Every device in service has its own credential",
    maps={
        "etsi-en-303-645": ["5.1-1", "5.1-2", "5.4-4"],
        "nist-csf": ["PR.AA-01"],
        "iec-62443-4-2": ["CR 1.5", "CR 1.2"],
        "iso-27001-annex-a": ["A.5.17"],
    },
    remedy="Enroll a certificate or rotate a per-device token for each listed device.",
)
def unique_device_credentials(organization, *, now):
    """Each device in service authenticates with a credential of its own: a valid certificate or
    a per-device token, never one shared with another device."""
    devices = Device.objects.filter(organization=organization, state__in=ACTIVE_STATES)
    checked = devices.count()
    with_cert = set()
    Certificate = certificates_model()
    if Certificate is not None:
        with_cert = set(
            Certificate.objects.valid(now)
            .filter(organization=organization)
            .values_list("device_id", flat=True)
        )
    failing = []
    shared_hashes = set(
        Device.objects.filter(organization=organization)
        .exclude(token_hash="")
        .values("token_hash")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .values_list("token_hash", flat=True)
    )
    for d in devices.order_by("pk"):
        if d.token_hash and d.token_hash in shared_hashes:
            failing.append(device_row(d, "its token is shared with another device"))
        elif d.pk not in with_cert and not d.token_hash:
            failing.append(device_row(d, "no valid certificate and no device token"))
    return outcome_from_devices(
        failing,
        checked,
        "All {checked} devices in service have a credential of their own.",
        "{n} of {checked} devices in service lack a unique credential.",
        {"with_certificate": len(with_cert), "shared_tokens": len(shared_hashes)},
    )


@register(
    "decommissioned-credentials",
    "No retired device keeps a valid credential",
    maps={
        "etsi-en-303-645": ["5.5-8"],
        "nist-csf": ["PR.AA-01", "PR.PS-03"],
        "iec-62443-4-2": ["CR 1.4", "CR 1.5"],
        "iso-27001-annex-a": ["A.5.18", "A.7.14"],
    },
    remedy="Revoke the certificates and clear the tokens of the listed devices.",
)
def decommissioned_credentials(organization, *, now):
    """Retiring, decommissioned and disposed devices must not be able to authenticate."""
    retired = Device.objects.filter(organization=organization, state__in=RETIRED_STATES)
    checked = retired.count()
    reasons = defaultdict(list)
    for d in retired.exclude(token_hash=""):
        reasons[d.pk].append("device token still set")
    checks = identity_checks()
    if checks is not None:
        for row in finding_rows(
            checks.retired_devices_with_valid_certificates(organization, now=now)
        ):
            reasons[row["id"]].append(row["reason"])
    devices = Device.objects.in_bulk(list(reasons))
    failing = [device_row(devices[pk], "; ".join(text)) for pk, text in sorted(reasons.items())]
    return outcome_from_devices(
        failing,
        checked,
        "None of the {checked} retired devices can still authenticate.",
        "{n} of {checked} retired devices still hold a valid credential.",
    )
