"""Demo risk register for each demo organization, built on the demo fleet through the services.

Runs after the devices, identity, firmware, monitoring and incidents demos. Vulnerability
identifiers are ``DEMO-2026-nnnn``: clearly fictional, so nobody mistakes them for real CVEs;
their CVSS vectors are realistic. The affected firmware ranges are derived from the versions the
demo devices actually run, so some devices are affected and some are not.
"""

import datetime

from django.utils import timezone

from devices.models import Device

from . import services
from .models import Risk, Threat
from .models.vulnerabilities import parse_version
from .tasks import check_register

VULNERABILITIES = [
    # (class, identifier suffix, title, vector, description)
    (
        "gateway",
        "0001",
        "Authentication bypass in the gateway management web interface",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "A crafted request to the configuration endpoint skips the session check.",
    ),
    (
        "camera",
        "0002",
        "Hard-coded service account in camera firmware",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:L/A:N",
        "A maintenance account with a fixed password is present in every unit.",
    ),
    (
        "controller",
        "0003",
        "Unauthenticated Modbus/BACnet write to setpoints",
        "CVSS:3.1/AV:A/AC:L/PR:N/UI:N/S:C/C:N/I:H/A:H",
        "Any host on the control network can change setpoints without authentication.",
    ),
    (
        "sensor",
        "0004",
        "Firmware image accepted without signature check over the local port",
        "CVSS:3.1/AV:P/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "Someone with physical access can flash modified firmware through the service port.",
    ),
    (
        None,
        "0005",
        "Outdated TLS library allows downgrade to weak ciphers",
        "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N",
        "Traffic to the platform can be downgraded to ciphers that a capable attacker can break.",
    ),
]

# (title, scenario, class, threats, vulnerability suffixes, inherent (L, I), residual, treatment,
#  controls, mitigations [(title, due in days, status, requirement refs)])
RISKS = [
    (
        "Takeover of site gateways through the management interface",
        "An attacker on the internet or the site network exploits the gateway web interface, "
        "takes control of the gateway and pivots to every device behind it.",
        "gateway",
        ["remote-code-execution", "credential-stuffing"],
        ["0001"],
        (4, 5),
        (3, 4),
        "mitigate",
        "Management interface reachable only from the NOC VPN.",
        [
            (
                "Upgrade gateways to the fixed firmware",
                -6,
                "in_progress",
                ["etsi-en-303-645:5.3-2"],
            ),
            ("Block management ports at the site firewall", 14, "planned", ["nist-csf:PR.IR-01"]),
        ],
    ),
    (
        "Camera fleet enrolled in a botnet",
        "Cameras with the hard-coded service account are found by internet scanners and enrolled "
        "in a DDoS botnet, exhausting site uplinks.",
        "camera",
        ["botnet-enrolment", "credential-stuffing"],
        ["0002"],
        (5, 3),
        (3, 3),
        "mitigate",
        "Cameras sit on an isolated VLAN with egress filtering.",
        [
            (
                "Disable the service account through the vendor tool",
                -12,
                "planned",
                ["etsi-en-303-645:5.1-1"],
            ),
            ("Alert on camera egress to unknown hosts", 30, "planned", []),
        ],
    ),
    (
        "Unauthorised setpoint changes on controllers",
        "A compromised laptop on the control network writes setpoints, stopping pumps or "
        "overheating plant.",
        "controller",
        ["unauthorised-command"],
        ["0003"],
        (3, 5),
        (2, 4),
        "mitigate",
        "Control network segmented; engineering workstations hardened.",
        [("Enable the controllers' write protection", 45, "in_progress", ["iec-62443-4-2:CR 2.1"])],
    ),
    (
        "Tampered firmware flashed through the service port",
        "Someone with access to a cabinet flashes modified firmware that reports false readings.",
        "sensor",
        ["physical-tampering", "firmware-tampering"],
        ["0004"],
        (2, 4),
        (1, 4),
        "mitigate",
        "Cabinets locked; tamper seals checked on visits.",
        [("Fit tamper-evident seals on all cabinets", -3, "done", [])],
    ),
    (
        "Eavesdropping on telemetry in transit",
        "Telemetry is downgraded to weak ciphers and read by an attacker on the path.",
        None,
        ["eavesdropping", "man-in-the-middle"],
        ["0005"],
        (2, 3),
        (1, 3),
        "accept",
        "Mutual TLS with pinned platform CA; no personal data in telemetry.",
        [],
    ),
    (
        "Devices running past vendor security support",
        "Sensors whose vendor support has ended keep running with known, unfixable flaws.",
        "sensor",
        ["end-of-support"],
        [],
        (4, 3),
        None,
        "mitigate",
        "",
        [
            (
                "Budget and schedule replacement of end-of-life sensors",
                120,
                "planned",
                ["iso-27001-annex-a:A.5.9"],
            )
        ],
    ),
    (
        "Data left on disposed devices",
        "Retired devices leave the site with certificates and configuration still on them.",
        None,
        ["decommissioning-leak"],
        [],
        (2, 2),
        (1, 2),
        "mitigate",
        "Decommissioning checklist requires a wipe record.",
        [],
    ),
    (
        "Radio jamming of wireless meters",
        "Wireless meters are jammed and stop reporting, hiding leaks or theft.",
        "sensor",
        ["radio-jamming"],
        [],
        (2, 2),
        None,
        "accept",
        "Readings are interpolated and gaps alerted after one day.",
        [],
    ),
    (
        "Leaked API key drives the fleet",
        "An integration API key leaks from a CI log and is used to change device configuration.",
        None,
        ["cloud-api-abuse"],
        [],
        (3, 4),
        (2, 3),
        "mitigate",
        "API keys are scoped, expiring and revocable.",
        [("Rotate integration keys every 90 days", 7, "planned", ["nist-csf:PR.AA-01"])],
    ),
    (
        "Supply-chain compromise of a device vendor build",
        "A vendor's build system is compromised and a signed but malicious update is offered.",
        None,
        ["supply-chain-compromise"],
        [],
        (1, 5),
        None,
        "transfer",
        "Vendor contracts require SBOMs and incident notification.",
        [],
    ),
]


def _type_for(types, device_class):
    if device_class is None:
        return None
    for device_type in types:
        if device_type.device_class == device_class:
            return device_type
    return None


def _range_for(device_type):
    """A firmware range that catches the older versions the demo devices of a type run."""
    versions = sorted(
        {
            v
            for v in (
                parse_version(f)
                for f in Device.objects.filter(device_type=device_type).values_list(
                    "firmware_version", flat=True
                )
            )
            if v is not None
        }
    )
    if len(versions) >= 2:
        return {"device_type": device_type, "fixed_version": str(versions[-1])}
    if versions:
        return {"device_type": device_type, "introduced_version": str(versions[0])}
    return {"device_type": device_type, "fixed_version": "9.0.0"}


def seed(ctx):
    today = timezone.localdate()
    for demo in ctx.orgs:
        org = demo.org
        officer = demo.user("security_officer")
        operator = demo.user("operator")
        admin = demo.user("admin")
        types = list(ctx.data.get("device_types", {}).get(org.slug, []))
        assets = services.register_assets_from_inventory(org, actor=officer)
        for name, kind, description in (
            ("Fleet management platform", "service", "Encompass, its API and device endpoints."),
            ("Telemetry archive", "data_store", "Five years of meter and plant readings."),
        ):
            assets.append(
                services.create_asset(
                    actor=officer,
                    organization=org,
                    kind=kind,
                    name=name,
                    description=description,
                    criticality="high",
                    confidentiality=True,
                    integrity=True,
                    availability=True,
                )
            )
        type_assets = {a.device_type_id: a for a in assets if a.device_type_id}
        vulns = {}
        for device_class, suffix, title, vector, description in VULNERABILITIES:
            device_type = _type_for(types, device_class)
            affected = [_range_for(device_type)] if device_type else [_range_for(t) for t in types]
            vulns[suffix] = services.create_vulnerability(
                actor=officer,
                organization=org,
                identifier=f"DEMO-2026-{suffix}",
                title=title,
                description=f"{description} (Fictional advisory for the demo.)",
                cvss_vector=vector,
                published_on=today - datetime.timedelta(days=40),
                references=["https://example.com/advisories/demo"],
                affected=affected,
            )
        threats = {t.code: t for t in Threat.objects.filter(organization__isnull=True)}
        made = []
        for (
            title,
            scenario,
            device_class,
            threat_codes,
            vuln_ids,
            inherent,
            residual,
            treatment,
            controls,
            mitigations,
        ) in RISKS:
            device_type = _type_for(types, device_class)
            linked = (
                [type_assets[device_type.pk]]
                if device_type and device_type.pk in type_assets
                else []
            )
            if device_class is None:
                linked = [a for a in assets if a.kind == "service"]
            risk = services.create_risk(
                actor=officer,
                organization=org,
                title=title,
                scenario=scenario,
                likelihood=inherent[0],
                impact=inherent[1],
                owner=rng_owner(ctx, officer, operator, admin),
                treatment=treatment,
                current_controls=controls,
                assets=linked,
                threats=[threats[c] for c in threat_codes if c in threats],
                vulnerabilities=[vulns[v] for v in vuln_ids],
                review_due_on=today + datetime.timedelta(days=ctx.rng.choice([-9, 20, 45, 80])),
                source="Annual risk workshop 2026",
            )
            if residual:
                services.assess_residual(
                    risk, actor=officer, likelihood=residual[0], impact=residual[1]
                )
            devices = (
                list(Device.objects.filter(device_type=device_type)[:3]) if device_type else []
            )
            for m_title, due_in, status, refs in mitigations:
                mitigation = services.create_mitigation(
                    risk,
                    actor=officer,
                    title=m_title,
                    owner=operator,
                    due_on=today + datetime.timedelta(days=due_in),
                    devices=devices,
                    requirement_refs=refs,
                )
                if status != "planned":
                    services.set_mitigation_status(mitigation, actor=operator, status=status)
            made.append(risk)
        accepted = [r for r in made if r.treatment == "accept"]
        for risk, days in zip(accepted, (150, 20), strict=False):
            services.accept_risk(
                risk,
                actor=officer,
                expires_at=timezone.now() + datetime.timedelta(days=days),
                justification="Residual risk within appetite; controls in place.",
            )
        if len(accepted) > 1:
            # Time passes in the demo: the second acceptance lapsed last week.
            Risk.objects.filter(pk=accepted[1].pk).update(
                accepted_at=timezone.now() - datetime.timedelta(days=200),
                acceptance_expires_at=timezone.now() - datetime.timedelta(days=7),
            )
        ctx.log(
            f"{org.name}: {len(assets)} assets, {len(vulns)} vulnerabilities, {len(made)} risks"
        )
    raised, _ = check_register()
    ctx.log(f"Risk register check raised {raised} alert(s)")


def rng_owner(ctx, *users):
    return ctx.rng.choice(users)
