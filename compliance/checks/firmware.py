"""Checks on firmware (the firmware app) and on known vulnerabilities (the risk register)."""

from collections import defaultdict

from django.db.models import CharField, Q, Value
from django.db.models.functions import Cast, Coalesce, Concat, NullIf

from devices.choices import ACTIVE_STATES
from devices.models import Device

from . import CheckOutcome, any_of, outcome_from_devices, reason_case, register


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
    behind = {t: Q(device_type_id=t, firmware_security_version__lt=v) for t, v in latest.items()}
    reason = reason_case(
        [
            (
                q,
                Concat(
                    Value("security version "),
                    Cast("firmware_security_version", CharField()),
                    Value(" (firmware "),
                    Coalesce(NullIf("firmware_version", Value("")), Value("?")),
                    Value(f") below {latest[t]} (release {names[t]})"),
                    output_field=CharField(),
                ),
            )
            for t, q in behind.items()
        ]
    )
    failing = devices.filter(any_of(behind.values())).annotate(finding_reason=reason)
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
    conditions, branches = [], []
    for type_id, versions in known.items():
        ok = [v for v, status in versions.items() if status in good]
        conditions.append(Q(device_type_id=type_id) & ~Q(firmware_version__in=ok))
        for version, status in versions.items():
            if status not in good:
                branches.append(
                    (
                        Q(device_type_id=type_id, firmware_version=version),
                        f"firmware {version} is {status}",
                    )
                )
    unknown = Concat(
        Value("firmware "),
        "firmware_version",
        Value(" is not a signed release"),
        output_field=CharField(),
    )
    branches.append((Q(pk__isnull=False), unknown))
    failing = devices.filter(any_of(conditions)).annotate(finding_reason=reason_case(branches))
    return outcome_from_devices(
        failing,
        devices.count(),
        "All {checked} devices run signed, approved firmware.",
        "{n} of {checked} devices run firmware that is unknown, unapproved or revoked.",
    )


# A device's reason names at most this many vulnerabilities (the count says how many in all).
REASON_IDENTIFIERS = 10


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
        from risk.choices import VulnerabilityStatus
        from risk.models import AffectedProduct, Vulnerability
        from risk.services.vulnerabilities import (
            affected_versions,
            pairs_q,
            version_population,
        )
    except ImportError:
        return CheckOutcome.not_applicable("risk register not installed")
    products = defaultdict(list)
    identifiers = {}
    rows = AffectedProduct.objects.filter(
        organization=organization, vulnerability__status=VulnerabilityStatus.OPEN
    ).select_related("vulnerability")
    for product in rows.iterator(chunk_size=2000):
        products[product.vulnerability_id].append(product)
        identifiers[product.vulnerability_id] = product.vulnerability.identifier
    # Versions in service (decommissioned devices are out of the population already).
    population = version_population(
        [organization.pk],
        {p.device_type_id for ps in products.values() for p in ps},
        states=ACTIVE_STATES,
    )
    hits = defaultdict(list)  # (type, version) -> identifiers of open vulnerabilities in range
    for vuln_id, ranges in products.items():
        for pair, verdict in affected_versions(ranges, population).items():
            if verdict == "in_range":
                hits[pair].append(identifiers[vuln_id])
    branches = []
    for pair, ids in sorted(hits.items()):
        ids = sorted(ids)
        text = "affected by " + ", ".join(ids[:REASON_IDENTIFIERS])
        if len(ids) > REASON_IDENTIFIERS:
            text += f" and {len(ids) - REASON_IDENTIFIERS} more"
        branches.append((pairs_q([pair]), text))
    failing = (
        Device.objects.filter(organization=organization, state__in=ACTIVE_STATES)
        .filter(pairs_q(list(hits)))
        .annotate(finding_reason=reason_case(branches))
    )
    checked = Device.objects.filter(organization=organization, state__in=ACTIVE_STATES).count()
    return outcome_from_devices(
        failing,
        checked,
        "None of the {checked} devices in service is affected by an open vulnerability.",
        "{n} of {checked} devices in service are affected by open vulnerabilities.",
        {
            "open_vulnerabilities": Vulnerability.objects.filter(
                organization=organization, status=VulnerabilityStatus.OPEN
            ).count(),
            "firmware_versions_affected": len(hits),
        },
    )
