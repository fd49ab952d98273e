"""Demo firmware: a vendor signing key per organization (the private key stays with the
"vendor", i.e. this seed), approved releases, one completed rollout, one running, and a "bad"
release with a draft rollout that pauses itself once started with the fleet simulator running."""

import base64
import hashlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.files.base import ContentFile
from django.utils import timezone

from devices.choices import LifecycleState

from . import services, signing
from .choices import UpdateStatus
from .models import DeviceUpdate
from .services.manifests import current_offer

VERSIONS = [("1.0.0", 1), ("1.1.0", 1), ("1.2.0", 2)]
BAD = ("1.3.0", 2)


def _image(device_type, version, rng):
    header = f"{device_type.manufacturer}/{device_type.model} {version}\n".encode()
    return header + rng.randbytes(48 * 1024)


def _release(org, vendor, device_type, version, sv, rng, uploader, officer, **extra):
    data = _image(device_type, version, rng)
    statement = signing.release_statement(
        device_types=[device_type],
        version=version,
        security_version=sv,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
    )
    release = services.upload_release(
        organization=org,
        device_types=[device_type],
        version=version,
        security_version=sv,
        artifact=ContentFile(data, name="fw.bin"),
        signature=base64.b64encode(vendor.sign(statement)).decode(),
        actor=uploader,
        **extra,
    )
    return services.approve_release(release, actor=officer, note="Reviewed in the demo seed")


def _install_all(rollout, wave_numbers=None):
    """Play the devices' side for the given waves: offered → ... → healthy heartbeat."""
    updates = DeviceUpdate.objects.filter(rollout=rollout, status=UpdateStatus.PENDING)
    if wave_numbers:
        updates = updates.filter(wave__number__in=wave_numbers)
    for update in updates.select_related("device", "release"):
        device = update.device
        offer = current_offer(device)
        if offer is None:
            continue
        for status in ("downloading", "installing", "rebooting", "succeeded"):
            services.report_update_status(device, update_id=offer.pk, status=status)
        services.record_reported_firmware(
            device,
            version=offer.release.version,
            security_version=offer.release.security_version,
        )


def seed(ctx):
    for demo in ctx.orgs:
        org = demo.org
        devices = [
            d for d in ctx.data.get("devices", {}).get(org.slug, []) if d.device_type.supports_ota
        ]
        for d in devices:
            d.refresh_from_db()
        deployed = [d for d in devices if d.state == LifecycleState.DEPLOYED]
        if not deployed:
            continue
        officer, operator = demo.user("security_officer"), demo.user("operator")
        vendor = Ed25519PrivateKey.generate()
        services.register_signing_key(
            organization=org,
            name="Vendor release key",
            public_key=signing.public_pem(vendor.public_key()),
            actor=officer,
            description="Demo: the vendor keeps the private key; the platform only verifies.",
        )
        by_type = {}
        for d in deployed:
            by_type.setdefault(d.device_type, []).append(d)
        main_types = sorted(by_type, key=lambda t: -len(by_type[t]))[:2]
        for index, device_type in enumerate(main_types):
            fleet = by_type[device_type]
            for d in fleet:  # what the devices report on their first heartbeat
                services.record_reported_firmware(d, version="1.0.0", security_version=1)
            releases = {
                v: _release(
                    org,
                    vendor,
                    device_type,
                    v,
                    sv,
                    ctx.rng,
                    operator,
                    officer,
                    release_notes=f"{v}: stability and security fixes",
                    cves_fixed=[f"CVE-2025-{1000 + 10 * index + n}"] if n else [],
                )
                for n, (v, sv) in enumerate(VERSIONS)
            }
            done = services.create_rollout(
                organization=org,
                release=releases["1.1.0"],
                device_type=device_type,
                name=f"{device_type.model} 1.1.0",
                actor=operator,
                waves=[{"percent": 20}, {"percent": 100}],
                soak_minutes=0,
                max_start_delay_seconds=0,
                success_threshold=90,
            )
            services.start_rollout(done, actor=operator)
            for _ in range(3):
                _install_all(done)
                services.advance_rollout(done)
            if index == 0 and len(fleet) >= 3:
                running = services.create_rollout(
                    organization=org,
                    release=releases["1.2.0"],
                    device_type=device_type,
                    name=f"{device_type.model} 1.2.0",
                    actor=operator,
                    waves=[{"count": 1}, {"percent": 50}, {"percent": 100}],
                    soak_minutes=5,
                    max_start_delay_seconds=60,
                    success_threshold=90,
                    failure_threshold=20,
                )
                services.start_rollout(running, actor=operator)
                # the canary does not wait for its random start delay in the seed
                DeviceUpdate.objects.filter(rollout=running, wave__number=1).update(
                    not_before=timezone.now()
                )
                _install_all(running, wave_numbers=[1])
                services.advance_rollout(running)
                bad = _release(
                    org,
                    vendor,
                    device_type,
                    *BAD,
                    ctx.rng,
                    operator,
                    officer,
                    release_notes="1.3.0 (demo: a bad build — the simulator fails it often)",
                    metadata={"simulation": {"failure_rate": 0.8}},
                )
                services.create_rollout(
                    organization=org,
                    release=bad,
                    device_type=device_type,
                    name=f"{device_type.model} 1.3.0 (start me: pauses itself)",
                    actor=operator,
                    waves=[{"percent": 30}, {"percent": 100}],
                    failure_threshold=10,
                    soak_minutes=2,
                    max_start_delay_seconds=30,
                )
        ctx.log(f"{org.name}: firmware releases and rollouts for {len(main_types)} device types")
