"""Checks on firmware (the firmware app) and on known vulnerabilities (the risk register)."""

from collections import defaultdict

from devices.choices import ACTIVE_STATES
from devices.models import Device

from . import CheckOutcome, device_row, outcome_from_devices, register


def _releases():
    try:
        from devices.firmware.choices import ReleaseStatus
        from devices.firmware.models import FirmwareRelease
    except ImportError:
        return None, None
    return FirmwareRelease, ReleaseStatus


@register(
    "firmware-current",
    "Devices run the latest approved security version",
    maps={
        "etsi-en-303-645": ["5.3-8", "5.3-2"],
        "nist-csf": ["PR.PS-02", "ID.RA-01"],
        "iec-62443-4-2": ["EDR 3.10"],
        "iso-27001-annex-a": ["A.8.8", "A.8.19"],
    },
    remedy="Roll out the latest approved release to the listed devices.",
)
def firmware_current(organization, *, now):
    """A device whose firmware security version is below the newest approved release for its
    type misses security fixes."""
    FirmwareRelease, ReleaseStatus = _releases()
    if FirmwareRelease is None:
        return CheckOutcome.not_applicable("firmware not installed")
    latest = defaultdict(int)
    names = {}
    approved = FirmwareRelease.objects.filter(
        organization=organization, status=ReleaseStatus.APPROVED
    ).prefetch_related("device_types")
    for release in approved:
        for dtype in release.device_types.all():
            if release.security_version > latest[dtype.pk]:
                latest[dtype.pk] = release.security_version
                names[dtype.pk] = release.version
    devices = Device.objects.filter(
        organization=organization, state__in=ACTIVE_STATES, device_type_id__in=list(latest)
    )
    failing = [
        device_row(
            d,
            f"security version {d.firmware_security_version} (firmware {d.firmware_version or '?'})"
            f" below {latest[d.device_type_id]} (release {names[d.device_type_id]})",
        )
        for d in devices
        if d.firmware_security_version < latest[d.device_type_id]
    ]
    return outcome_from_devices(
        failing,
        devices.count(),
        "All {checked} devices with an approved release run its security version.",
        "{n} of {checked} devices are behind the latest approved security version.",
        {"types_with_releases": len(latest)},
    )


@register(
    "firmware-signed",
    "Devices run signed, approved firmware",
    maps={
        "etsi-en-303-645": ["5.3-10", "5.7-1"],
        "nist-csf": ["PR.PS-02"],
        "iec-62443-4-2": ["CR 3.4"],
        "iso-27001-annex-a": ["A.8.19"],
    },
    remedy="Update the devices to an approved release, or investigate the unexpected firmware.",
)
def firmware_signed(organization, *, now):
    """The firmware a device reports must be a signed release the organization approved (or an
    older one it deprecated); anything else is unknown or revoked firmware."""
    FirmwareRelease, ReleaseStatus = _releases()
    if FirmwareRelease is None:
        return CheckOutcome.not_applicable("firmware not installed")
    known = defaultdict(dict)  # type -> version -> status
    releases = (
        FirmwareRelease.objects.filter(organization=organization)
        .exclude(signature="")
        .prefetch_related("device_types")
    )
    for release in releases:
        for dtype in release.device_types.all():
            known[dtype.pk][release.version] = release.status
    devices = Device.objects.filter(
        organization=organization, state__in=ACTIVE_STATES, device_type_id__in=list(known)
    ).exclude(firmware_version="")
    good = {ReleaseStatus.APPROVED, ReleaseStatus.DEPRECATED}
    failing = []
    for d in devices:
        status = known[d.device_type_id].get(d.firmware_version)
        if status is None:
            failing.append(device_row(d, f"firmware {d.firmware_version} is not a signed release"))
        elif status not in good:
            failing.append(device_row(d, f"firmware {d.firmware_version} is {status}"))
    return outcome_from_devices(
        failing,
        devices.count(),
        "All {checked} devices run signed, approved firmware.",
        "{n} of {checked} devices run firmware that is unknown, unapproved or revoked.",
    )


@register(
    "known-vulnerabilities",
    "No device runs firmware with an open known vulnerability",
    maps={
        "etsi-en-303-645": ["5.2-3", "5.3-8"],
        "nist-csf": ["ID.RA-01"],
        "iec-62443-4-2": ["EDR 3.10"],
        "iso-27001-annex-a": ["A.8.8"],
    },
    remedy="Update to a fixed release, or record the mitigation in the risk register.",
)
def known_vulnerabilities(organization, *, now):
    """Open vulnerabilities in the risk register that affect a device's firmware version."""
    try:
        from compliance.risk.choices import VulnerabilityStatus
        from compliance.risk.models import Vulnerability
        from compliance.risk.services.vulnerabilities import affected_devices
    except ImportError:
        return CheckOutcome.not_applicable("risk register not installed")
    reasons = defaultdict(list)
    devices = {}
    open_vulns = Vulnerability.objects.filter(
        organization=organization, status=VulnerabilityStatus.OPEN
    )
    for vuln in open_vulns:
        for device in affected_devices(vuln, include_unverified=False):
            if device.state in ACTIVE_STATES:
                devices[device.pk] = device
                reasons[device.pk].append(vuln.identifier)
    failing = [
        device_row(devices[pk], "affected by " + ", ".join(sorted(ids)))
        for pk, ids in sorted(reasons.items())
    ]
    checked = Device.objects.filter(organization=organization, state__in=ACTIVE_STATES).count()
    return outcome_from_devices(
        failing,
        checked,
        "None of the {checked} devices in service is affected by an open vulnerability.",
        "{n} of {checked} devices in service are affected by open vulnerabilities.",
        {"open_vulnerabilities": open_vulns.count()},
    )
