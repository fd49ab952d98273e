"""Vulnerabilities and the fleet they touch, computed live from device types and firmware.

``affected_devices(vulnerability)`` and ``vulnerabilities_affecting(device)`` read the devices'
current ``device_type`` and ``firmware_version`` every time: nothing is cached, so a firmware
update (or a report of one) changes the answer at once.

Which devices count: those not decommissioned or disposed. How firmware is compared: as PEP 440
versions (``packaging.version``; ``v2.1.0`` and ``2.1.0-rc1`` parse). A range with no bounds
affects every version. When a range has bounds and a device's firmware is empty or cannot be
parsed (``"build-7731"``), the device is counted as affected with ``firmware_unverified`` set: a
version that cannot be checked cannot be cleared. Pass ``include_unverified=False`` for only the
devices proven to be in range.
"""

from collections import defaultdict
from dataclasses import dataclass

from django.db import transaction
from django.db.models import BooleanField, Case, Count, Q, Value, When

from devices.choices import LifecycleState
from devices.models import Device

from ..choices import VulnerabilityStatus
from ..cvss import severity_for
from ..models import AffectedProduct, Vulnerability
from ..models.vulnerabilities import parse_version
from .common import (
    ValidationError,
    check_same_org,
    ensure_can_create,
    ensure_permitted,
    record,
    snapshot,
)

EXCLUDED_STATES = (LifecycleState.DECOMMISSIONED, LifecycleState.DISPOSED)
VULNERABILITY_FIELDS = (
    "identifier",
    "title",
    "description",
    "cvss_score",
    "cvss_vector",
    "published_on",
    "references",
    "status",
)


# --- the live computation ---------------------------------------------------------------------
#
# Set-wise: a fleet has many devices but few distinct (device type, firmware version) pairs. One
# GROUP BY reads the pairs (with their device counts); the PEP 440 ranges are compared on those
# pairs only; the affected devices are then a plain queryset filtered on the pairs in range.


def _in_scope(ranges, firmware_version):
    """``"in_range"``, ``"unverified"`` or ``None`` for a device against a type's ranges."""
    unverified = False
    for product in ranges:
        hit = product.matches(firmware_version)
        if hit:
            return "in_range"
        if hit is None:
            unverified = True
    return "unverified" if unverified else None


def version_population(organization_ids, type_ids, *, states=None):
    """``{device type id: {firmware version: device count}}`` of the devices that count (one
    aggregate query; ``states`` narrows them further)."""
    devices = Device.objects.filter(
        organization_id__in=list(organization_ids), device_type_id__in=list(type_ids)
    ).exclude(state__in=EXCLUDED_STATES)
    if states is not None:
        devices = devices.filter(state__in=states)
    population = defaultdict(dict)
    rows = (
        devices.order_by().values_list("device_type_id", "firmware_version").annotate(n=Count("pk"))
    )
    for type_id, version, n in rows:
        population[type_id][version] = n
    return population


def _verdict(bounds, parsed):
    """``AffectedProduct.matches`` over pre-parsed bounds: ``_in_scope`` without re-parsing."""
    unverified = False
    for low, high, bounded in bounds:
        if not bounded:
            return "in_range"
        if parsed is None:
            unverified = True
        elif (low is None or parsed >= low) and (high is None or parsed < high):
            return "in_range"
    return "unverified" if unverified else None


def affected_versions(products, population):
    """``{(type id, version): "in_range" | "unverified"}`` for one vulnerability's ranges (each
    bound and each firmware string parsed once: this runs for thousands of vulnerabilities)."""
    bounds = defaultdict(list)
    for p in products:
        bounds[p.device_type_id].append(
            (parse_version(p.introduced_version), parse_version(p.fixed_version), p.bounded)
        )
    found = {}
    for type_id, type_bounds in bounds.items():
        for version in population.get(type_id, ()):
            verdict = _verdict(type_bounds, parse_version(version))
            if verdict:
                found[(type_id, version)] = verdict
    return found


def pairs_q(pairs):
    """``Q`` matching devices whose (type, firmware) is one of ``pairs`` (nothing when empty)."""
    by_type = defaultdict(list)
    for type_id, version in pairs:
        by_type[type_id].append(version)
    q = Q(pk__in=[])
    for type_id, versions in sorted(by_type.items()):
        q |= Q(device_type_id=type_id, firmware_version__in=sorted(versions))
    return q


def affected_devices(vulnerability, *, include_unverified=True, queryset=None, population=None):
    """The devices ``vulnerability`` affects now: a queryset (paginate and filter it), each row
    annotated ``firmware_unverified``.

    ``queryset`` narrows the candidates (e.g. ``Device.objects.restrict(user)``); pass the
    ``population`` ``exposure_counts`` read, to read the fleet's versions once per page.
    """
    products = list(AffectedProduct.objects.filter(vulnerability=vulnerability))
    candidates = queryset if queryset is not None else Device.objects.all()
    if not products:
        return candidates.none().annotate(firmware_unverified=Value(False))
    if population is None:
        population = version_population(
            [vulnerability.organization_id], {p.device_type_id for p in products}
        )
    verdicts = affected_versions(products, population)
    proven = [pair for pair, v in verdicts.items() if v == "in_range"]
    unverified = [pair for pair, v in verdicts.items() if v == "unverified"]
    wanted = proven + (unverified if include_unverified else [])
    return (
        candidates.filter(organization_id=vulnerability.organization_id)
        .exclude(state__in=EXCLUDED_STATES)
        .filter(pairs_q(wanted))
        .annotate(
            firmware_unverified=Case(
                When(pairs_q(unverified), then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            )
        )
        .select_related("device_type", "site")
        .order_by("name", "pk")
    )


@dataclass
class Exposure:
    affected: int = 0
    unverified: int = 0


def exposure_counts(vulnerabilities, *, with_population=False):
    """``{vulnerability pk: Exposure}`` for many vulnerabilities in two queries: their ranges,
    and the fleet's device counts per (type, firmware) -- never a row per device.
    ``with_population=True`` returns ``(counts, population)`` for ``affected_devices``."""
    vulns = list(vulnerabilities)
    result = {v.pk: Exposure() for v in vulns}
    if not vulns:
        return (result, {}) if with_population else result
    products = defaultdict(list)
    orgs, types = set(), set()
    for product in AffectedProduct.objects.filter(vulnerability__in=[v.pk for v in vulns]):
        products[product.vulnerability_id].append(product)
        orgs.add(product.organization_id)
        types.add(product.device_type_id)
    if not products:
        return (result, {}) if with_population else result
    population = version_population(orgs, types)
    for vuln_id, ranges in products.items():
        for (type_id, version), verdict in affected_versions(ranges, population).items():
            n = population[type_id][version]
            result[vuln_id].affected += n
            if verdict == "unverified":
                result[vuln_id].unverified += n
    return (result, population) if with_population else result


def vulnerabilities_affecting(device, *, include_unverified=True, statuses=None):
    """The vulnerabilities (of the device's organization) that affect ``device`` now.

    ``statuses`` defaults to every status but "not affected". A decommissioned or disposed
    device is affected by nothing. Each result carries ``firmware_unverified``.
    """
    if device.state in EXCLUDED_STATES:
        return []
    statuses = statuses or [
        s for s in VulnerabilityStatus.values if s != VulnerabilityStatus.NOT_AFFECTED
    ]
    products = (
        AffectedProduct.objects.filter(
            organization_id=device.organization_id,
            device_type_id=device.device_type_id,
            vulnerability__status__in=statuses,
        )
        .select_related("vulnerability")
        .order_by("vulnerability_id")
    )
    by_vuln = defaultdict(list)
    for product in products:
        by_vuln[product.vulnerability].append(product)
    found = []
    for vulnerability, ranges in by_vuln.items():
        verdict = _in_scope(ranges, device.firmware_version)
        if verdict is None or (verdict == "unverified" and not include_unverified):
            continue
        vulnerability.firmware_unverified = verdict == "unverified"
        found.append(vulnerability)
    return sorted(found, key=lambda v: (-(v.cvss_score or 0), v.identifier))


# --- writes -------------------------------------------------------------------------------------


def build_vulnerability(organization, fields, affected, *, instance=None):
    """Validate a vulnerability and its affected ranges without saving.

    ``affected`` is a list of ``{"device_type": DeviceType, "introduced_version": "",
    "fixed_version": ""}``. Returns ``(vulnerability, [AffectedProduct])`` or raises a
    ``ValidationError`` whose keys name the fields (``affected[2].fixed_version`` ...).
    """
    unknown = set(fields) - set(VULNERABILITY_FIELDS)
    if unknown:
        raise ValidationError({name: "Unknown field." for name in sorted(unknown)})
    vuln = instance or Vulnerability(organization=organization)
    if instance is not None and "cvss_vector" in fields and "cvss_score" not in fields:
        fields = {**fields, "cvss_score": None}  # recomputed from the new vector
    for name, value in fields.items():
        setattr(vuln, name, value)
    errors = {}
    try:
        vuln.full_clean()
    except ValidationError as exc:
        errors.update(exc.message_dict)
    products = []
    for index, item in enumerate(affected or []):
        device_type = item.get("device_type")
        product = AffectedProduct(
            organization=organization,
            device_type=device_type,
            introduced_version=item.get("introduced_version") or "",
            fixed_version=item.get("fixed_version") or "",
        )
        try:
            if device_type is None:
                raise ValidationError({"device_type": "Name the affected device type."})
            product.full_clean(exclude=["vulnerability"])
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                errors[f"affected[{index}].{name}"] = messages
        products.append(product)
    if errors:
        raise ValidationError(errors)
    return vuln, products


def _save(vuln, products, *, replace):
    vuln.save()
    if replace:
        AffectedProduct.objects.filter(vulnerability=vuln).delete()
    for product in products:
        product.vulnerability = vuln
        product.save()


def comparable(vulnerability, products):
    """What an update would change: the fields (bar timestamps) and the ranges."""
    data = snapshot(vulnerability)
    data.pop("updated_at", None)
    data["severity"] = str(severity_for(vulnerability.cvss_score))
    return data, _ranges_snapshot(products)


def _ranges_snapshot(products):
    return sorted([p.device_type_id, p.introduced_version, p.fixed_version] for p in products)


@transaction.atomic
def create_vulnerability(*, actor, organization, affected=(), system=False, **fields):
    """Record a vulnerability and the device types / firmware ranges it affects."""
    if not system:
        ensure_can_create(actor, Vulnerability, organization)
    check_same_org(
        organization, "affected", [a["device_type"] for a in affected if a.get("device_type")]
    )
    vuln, products = build_vulnerability(organization, fields, affected)
    _save(vuln, products, replace=False)
    record(
        "create",
        vuln,
        actor=actor,
        extra={"affected": _ranges_snapshot(products)},
        payload={"identifier": vuln.identifier, "severity": vuln.severity},
    )
    return vuln


@transaction.atomic
def update_vulnerability(vulnerability, *, actor, affected=None, **fields):
    """Change a vulnerability; ``affected`` (when given) replaces its ranges."""
    ensure_permitted(actor, "change", vulnerability)
    locked = Vulnerability.objects.select_for_update().get(pk=vulnerability.pk)
    before = snapshot(locked)
    old_ranges = _ranges_snapshot(locked.affected_products.all())
    if affected is not None:
        check_same_org(
            locked.organization,
            "affected",
            [a["device_type"] for a in affected if a.get("device_type")],
        )
    vuln, products = build_vulnerability(
        locked.organization, fields, affected or [], instance=locked
    )
    _save(vuln, products, replace=affected is not None)
    extra = {}
    if affected is not None and _ranges_snapshot(products) != old_ranges:
        extra["affected"] = [old_ranges, _ranges_snapshot(products)]
    record("update", vuln, actor=actor, before=before, extra=extra)
    return vuln


@transaction.atomic
def delete_vulnerability(vulnerability, *, actor):
    ensure_permitted(actor, "delete", vulnerability)
    locked = Vulnerability.objects.select_for_update().get(pk=vulnerability.pk)
    if locked.risks.exists():
        raise ValidationError(
            {"risks": "Risks cite this vulnerability; mark it mitigated or not affected instead."}
        )
    record(
        "delete",
        locked,
        actor=actor,
        event=False,
        extra={
            "before": snapshot(locked),
            "affected": _ranges_snapshot(locked.affected_products.all()),
        },
    )
    pk = locked.pk
    locked.delete()
    return pk
