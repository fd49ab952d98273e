"""Assets: registered from the inventory (idempotently) or by hand through the generic services."""

from django.db import transaction
from django.db.models import Q

from devices.choices import Criticality, LifecycleState
from devices.models import Device, DeviceType
from encompass.tenancy.models import Site

from ..choices import AssetKind
from ..models import Asset
from .common import ensure_can_create, record

INVENTORY_KINDS = (AssetKind.DEVICE_TYPE, AssetKind.SITE, AssetKind.DEVICE)
CRITICALITY_RANK = {value: rank for rank, value in enumerate(Criticality.values)}
RETIRED_STATES = (LifecycleState.DECOMMISSIONED, LifecycleState.DISPOSED)


def _highest(values, default=Criticality.MEDIUM):
    values = [v for v in values if v]
    return max(values, key=CRITICALITY_RANK.__getitem__) if values else default


def _unique_name(wanted, taken):
    name, n = wanted[:200], 2
    while name.lower() in taken:
        name = f"{wanted[:190]} ({n})"
        n += 1
    taken.add(name.lower())
    return name


@transaction.atomic
def register_assets_from_inventory(
    organization,
    *,
    actor,
    kinds=INVENTORY_KINDS,
    device_criticality=(Criticality.HIGH, Criticality.CRITICAL),
    system=False,
):
    """Create assets for the organization's device types, sites and critical devices.

    Idempotent: an inventory row that already has an asset is skipped. Devices are registered
    only when their criticality is in ``device_criticality`` and they are not retired. Returns
    the list of new assets.
    """
    if not system:
        ensure_can_create(actor, Asset, organization)
    kinds = {AssetKind(k) for k in kinds}
    existing = Asset.objects.filter(organization=organization)
    taken = {n.lower() for n in existing.values_list("name", flat=True)}
    linked = {
        kind: set(existing.filter(kind=kind).values_list(f"{kind}_id", flat=True))
        for kind in INVENTORY_KINDS
    }
    active_devices = Device.objects.filter(organization=organization).exclude(
        state__in=RETIRED_STATES
    )
    new = []
    if AssetKind.DEVICE_TYPE in kinds:
        criticality = {}
        for type_id, value in active_devices.values_list("device_type_id", "criticality"):
            criticality.setdefault(type_id, []).append(value)
        for device_type in DeviceType.objects.filter(organization=organization).exclude(
            pk__in=linked[AssetKind.DEVICE_TYPE]
        ):
            new.append(
                Asset(
                    organization=organization,
                    kind=AssetKind.DEVICE_TYPE,
                    device_type=device_type,
                    name=_unique_name(str(device_type), taken),
                    description=f"Every {device_type} in the fleet.",
                    criticality=_highest(criticality.get(device_type.pk, [])),
                    confidentiality=True,
                    integrity=True,
                    availability=True,
                )
            )
    if AssetKind.SITE in kinds:
        criticality = {}
        for site_id, value in active_devices.filter(site__isnull=False).values_list(
            "site_id", "criticality"
        ):
            criticality.setdefault(site_id, []).append(value)
        for site in Site.objects.filter(organization=organization).exclude(
            pk__in=linked[AssetKind.SITE]
        ):
            new.append(
                Asset(
                    organization=organization,
                    kind=AssetKind.SITE,
                    site=site,
                    name=_unique_name(f"Site: {site.name}", taken),
                    description=f"The devices and operations at {site.name}.",
                    criticality=_highest(criticality.get(site.pk, [])),
                    availability=True,
                    safety=True,
                )
            )
    if AssetKind.DEVICE in kinds:
        for device in (
            active_devices.filter(criticality__in=list(device_criticality))
            .exclude(pk__in=linked[AssetKind.DEVICE])
            .select_related("device_type")
        ):
            new.append(
                Asset(
                    organization=organization,
                    kind=AssetKind.DEVICE,
                    device=device,
                    name=_unique_name(f"{device.name} ({device.serial_number})", taken),
                    description=f"{device.device_type} serial {device.serial_number}.",
                    criticality=device.criticality,
                    owner=device.owner,
                    integrity=True,
                    availability=True,
                )
            )
    for asset in new:
        asset.full_clean(validate_constraints=False)
        asset.save()
        record("create", asset, actor=actor, event=False, extra={"registered_from": "inventory"})
    return new


def assets_for_device(device):
    """Assets that stand for ``device``: itself, its type and its site."""
    q = Q(device=device) | Q(device_type_id=device.device_type_id)
    if device.site_id:
        q |= Q(site_id=device.site_id)
    return Asset.objects.filter(organization_id=device.organization_id).filter(q)


def create_asset(*, actor, organization, **fields):
    """Register one asset by hand (a service, a data store, or a linked inventory row)."""
    from encompass.tenancy import crud

    return crud.create_object(Asset, {"organization": organization, **fields}, actor=actor)
