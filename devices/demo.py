"""Demo fleet: believable device types and ~35 devices per organization, all through the services.

Devices meant to end up deployed are left provisioned and listed in
``ctx.data["devices_to_deploy"][org.slug]``: the identity demo (which runs next) enrols their
certificates and deploys them, since deploying a certificate-capable device needs one.
"""

import datetime

from django.utils import timezone

from encompass.tenancy import crud

from . import decommissioning as dc
from .choices import DisposalMethod, LifecycleState, RetentionDecision, WipeMethod
from .models import DeviceType
from .services import create_tag, register_device, transition_device

S = LifecycleState

# (manufacturer, model, revision, class, heartbeat s, support ends, certificates, ota, name stem,
#  count, tags)
CATALOGUE = {
    "northwind": [
        (
            "Kamstrup",
            "flowIQ 2200",
            "B",
            "sensor",
            900,
            "2031-12-31",
            True,
            True,
            "Water meter",
            14,
            ["metering"],
        ),
        (
            "Siemens",
            "SIMATIC S7-1200",
            "4",
            "controller",
            60,
            "2030-06-30",
            True,
            True,
            "Pump PLC",
            8,
            ["scada", "pumps"],
        ),
        (
            "Hirschmann",
            "EAGLE40 gateway",
            "",
            "gateway",
            30,
            "2029-03-31",
            True,
            True,
            "Substation gateway",
            6,
            ["scada"],
        ),
        (
            "Acme Legacy",
            "LM-100 level sensor",
            "",
            "sensor",
            300,
            "2023-12-31",
            False,
            False,
            "Level sensor",
            6,
            ["legacy"],
        ),
    ],
    "helios": [
        (
            "Tridium",
            "JACE 8000",
            "",
            "gateway",
            60,
            "2030-12-31",
            True,
            True,
            "BACnet gateway",
            8,
            ["bms"],
        ),
        (
            "Axis",
            "P3265-LVE",
            "",
            "camera",
            60,
            "2032-01-31",
            True,
            True,
            "IP camera",
            12,
            ["cctv"],
        ),
        (
            "Elsys",
            "ERS CO2",
            "",
            "sensor",
            600,
            "2031-06-30",
            True,
            True,
            "Air sensor",
            12,
            ["environment"],
        ),
        (
            "Honeywell",
            "XL50 controller",
            "",
            "controller",
            120,
            "2022-06-30",
            False,
            False,
            "AHU controller",
            4,
            ["bms", "legacy"],
        ),
    ],
}


def _types(org, actor, rows):
    made = []
    for manufacturer, model, revision, klass, beat, ends, certs, ota, *_ in rows:
        made.append(
            crud.create_object(
                DeviceType,
                {
                    "organization": org,
                    "manufacturer": manufacturer,
                    "model": model,
                    "hardware_revision": revision,
                    "device_class": klass,
                    "heartbeat_interval": beat,
                    "support_ends_on": datetime.date.fromisoformat(ends),
                    "supports_certificates": certs,
                    "supports_ota": ota,
                },
                actor=actor,
            )
        )
    return made


def _retire(device, actor, *, dispose):
    transition_device(device, S.DECOMMISSIONING, actor=actor, reason="Replaced by a newer model")
    if not dispose:
        dc.revoke_credentials(device, actor=actor)
        return
    dc.revoke_credentials(device, actor=actor)
    dc.remove_from_rollouts(device, actor=actor)
    dc.attest_data_wipe(
        device,
        actor=actor,
        method=WipeMethod.FACTORY_RESET,
        attested_by="Tess Technician",
        notes="Vendor reset procedure, configuration confirmed blank.",
    )
    dc.decide_retention(
        device,
        actor=actor,
        decision=RetentionDecision.ANONYMISE,
        justification="Keep aggregate readings for network planning; no link to the device.",
    )
    transition_device(device, S.DECOMMISSIONED, actor=actor, reason="Checklist complete")
    dc.record_disposal(
        device,
        actor=actor,
        method=DisposalMethod.RECYCLED,
        certificate_reference=f"WEEE-{timezone.localdate():%Y}-{device.pk:05d}",
        handled_by="GreenCycle WEEE Ltd",
    )
    transition_device(device, S.DISPOSED, actor=actor, reason="Collected for recycling")


def seed(ctx):
    ctx.data.setdefault("devices", {})
    ctx.data.setdefault("device_types", {})
    ctx.data.setdefault("devices_to_deploy", {})
    for demo in ctx.orgs:
        org, admin, rng = demo.org, demo.admin, ctx.rng
        rows = CATALOGUE.get(org.slug) or CATALOGUE["northwind"]
        types = _types(org, admin, rows)
        owners = [demo.user("operator"), demo.user("technician"), admin]
        devices, to_deploy, legacy = [], [], []
        for device_type, row in zip(types, rows, strict=True):
            stem, count, tag_names = row[8], row[9], row[10]
            tags = [create_tag(org, name, actor=admin) for name in tag_names]
            prefix = "".join(w[0] for w in device_type.manufacturer.split()).upper()
            for n in range(1, count + 1):
                site = demo.sites[(n - 1) % len(demo.sites)]
                device = register_device(
                    actor=admin,
                    organization=org,
                    device_type=device_type,
                    serial_number=f"{prefix}-{rng.randint(100000, 999999)}-{n:03d}",
                    name=f"{stem} {site.slug}-{n:02d}",
                    site=site,
                    tags=tags,
                    owner=rng.choice(owners),
                    criticality=rng.choice(["low", "medium", "medium", "high", "critical"]),
                    network_address=f"10.{demo.sites.index(site) + 10}.0.{len(devices) + 10}",
                    commissioned_on=timezone.localdate()
                    - datetime.timedelta(days=rng.randint(30, 900)),
                    warranty_until=timezone.localdate()
                    + datetime.timedelta(days=rng.randint(-200, 1200)),
                    location_notes=rng.choice(
                        ["Cabinet A", "Plant room", "Roof", "Basement", "Pit 2"]
                    ),
                )
                devices.append(device)
                if n <= count - 1 or not device_type.supports_certificates:
                    transition_device(
                        device, S.PROVISIONED, actor=admin, reason="Configured at the depot"
                    )
                if device_type.supports_certificates and device.state == S.PROVISIONED:
                    to_deploy.append(device)
                elif not device_type.supports_certificates:
                    legacy.append(device)
        # Devices without certificates deploy now; a few show maintenance, quarantine, retirement.
        for device in legacy:
            transition_device(device, S.DEPLOYED, actor=admin, reason="Installed by the field team")
        transition_device(legacy[0], S.MAINTENANCE, actor=admin, reason="Probe cleaning")
        transition_device(
            legacy[1],
            S.QUARANTINED,
            actor=demo.user("security_officer"),
            reason="Unexpected outbound traffic to 203.0.113.9",
        )
        _retire(legacy[2], admin, dispose=False)
        _retire(legacy[3], admin, dispose=True)
        ctx.data["devices"][org.slug] = devices
        ctx.data["device_types"][org.slug] = types
        ctx.data["devices_to_deploy"][org.slug] = to_deploy
        ctx.log(
            f"{org.name}: {len(types)} device types, {len(devices)} devices "
            f"({len(to_deploy)} provisioned for the identity demo to deploy)"
        )
