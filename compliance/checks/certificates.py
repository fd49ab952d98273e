"""Checks on device certificates (the identity app): shared keys, key strength, expiry and age.

Where ``devices.identity.checks`` offers a query for a subject, the check uses it; otherwise it
queries ``DeviceCertificate`` itself. Without the identity app the checks report "not applicable".
"""

from collections import defaultdict
from datetime import timedelta

from devices.choices import ACTIVE_STATES

from . import CheckOutcome, device_row, outcome_from_devices, register, setting

# Smallest acceptable key per family (NIST SP 800-57: 128-bit security from 2031 on).
MIN_RSA_BITS = 3072
MIN_EC_BITS = 256


def certificates_model():
    try:
        from devices.identity.models import DeviceCertificate
    except ImportError:
        return None
    return DeviceCertificate


def identity_checks():
    try:
        from devices.identity import checks
    except ImportError:
        return None
    return checks


NOT_INSTALLED = "identity not installed (no device certificates to check)"


def _valid_certs(organization, now):
    Certificate = certificates_model()
    return (
        Certificate.objects.valid(now)
        .filter(organization=organization, device__state__in=ACTIVE_STATES)
        .select_related("device")
    )


@register(
    "no-shared-keys",
    "No certificate or key shared between devices",
    maps={
        "etsi-en-303-645": ["5.4-4", "5.5-8"],
        "nist-csf": ["PR.AA-01"],
        "iec-62443-4-2": ["CR 1.9", "CR 1.5"],
        "iso-27001-annex-a": ["A.8.24"],
    },
    remedy="Revoke the shared certificates and have each device enroll with a fresh key pair.",
)
def no_shared_keys(organization, *, now):
    """Two devices holding the same public key can impersonate each other."""
    Certificate = certificates_model()
    if Certificate is None:
        return CheckOutcome.not_applicable(NOT_INSTALLED)
    holders = defaultdict(set)
    certs = _valid_certs(organization, now)
    for cert in certs:
        holders[cert.spki_sha256].add(cert.device)
    failing = []
    for spki, devices in holders.items():
        if len(devices) > 1:
            for d in sorted(devices, key=lambda d: d.pk):
                failing.append(
                    device_row(
                        d, f"public key {spki[:12]} also held by {len(devices) - 1} other(s)"
                    )
                )
    return outcome_from_devices(
        failing,
        len({c.device_id for c in certs}),
        "Each of the {checked} devices with a certificate holds its own key.",
        "{n} devices share a key with another device.",
        {"distinct_keys": len(holders)},
    )


def _weak(cert):
    algorithm = cert.key_algorithm or ""
    if algorithm.startswith("rsa"):
        return cert.key_size < int(setting("MIN_RSA_BITS", MIN_RSA_BITS))
    if algorithm.startswith("ec"):
        return cert.key_size < int(setting("MIN_EC_BITS", MIN_EC_BITS))
    return True  # an algorithm we do not know is not best practice


@register(
    "key-strength",
    "Device keys meet the minimum strength",
    maps={
        "etsi-en-303-645": ["5.5-1", "5.1-3"],
        "nist-csf": ["PR.DS-02"],
        "iec-62443-4-2": ["CR 4.3", "CR 1.9"],
        "iso-27001-annex-a": ["A.8.24"],
    },
    remedy="Renew the listed certificates with an ECDSA P-256 (or RSA 3072+) key.",
)
def key_strength(organization, *, now):
    """Valid device certificates use ECDSA P-256 or stronger, or RSA of at least 3072 bits."""
    Certificate = certificates_model()
    if Certificate is None:
        return CheckOutcome.not_applicable(NOT_INSTALLED)
    certs = list(_valid_certs(organization, now))
    failing = [
        device_row(
            c.device, f"certificate {c.serial_hex[:12]}: {c.key_algorithm} {c.key_size} bits"
        )
        for c in certs
        if _weak(c)
    ]
    return outcome_from_devices(
        failing,
        len(certs),
        "All {checked} valid device certificates use strong keys.",
        "{n} of {checked} valid device certificates use weak keys.",
        {"min_rsa_bits": setting("MIN_RSA_BITS", MIN_RSA_BITS), "min_ec_bits": MIN_EC_BITS},
    )


@register(
    "certificate-expiry",
    "Device certificates current: not expiring, expired or too old",
    maps={
        "etsi-en-303-645": ["5.5-8"],
        "nist-csf": ["PR.AA-01"],
        "iec-62443-4-2": ["CR 1.8"],
        "iso-27001-annex-a": ["A.8.24"],
    },
    remedy="Renew the certificates (devices renew over the device API, or re-enroll them).",
)
def certificate_expiry(organization, *, now):
    """Every device in service that uses certificates has one valid beyond the renewal window,
    issued within the maximum age."""
    Certificate = certificates_model()
    if Certificate is None:
        return CheckOutcome.not_applicable(NOT_INSTALLED)
    from devices.models import Device

    window = timedelta(days=int(setting("CERT_RENEWAL_DAYS", 30)))
    max_age = timedelta(days=int(setting("CERT_MAX_AGE_DAYS", 825)))
    devices = Device.objects.filter(
        organization=organization,
        state__in=ACTIVE_STATES,
        device_type__supports_certificates=True,
    )
    best = {}
    for cert in Certificate.objects.unrevoked().filter(device__in=devices):
        if cert.not_before > now:
            continue
        current = best.get(cert.device_id)
        if current is None or cert.not_after > current.not_after:
            best[cert.device_id] = cert
    failing = []
    with_cert = 0
    for device in devices.order_by("pk"):
        cert = best.get(device.pk)
        if cert is None:
            if device.token_hash:
                continue  # authenticates with a device token: covered by the credentials check
            failing.append(device_row(device, "no certificate"))
            continue
        with_cert += 1
        if cert.not_after <= now:
            failing.append(device_row(device, f"certificate expired on {cert.not_after:%Y-%m-%d}"))
        elif cert.not_after - now <= window:
            days = (cert.not_after - now).days
            failing.append(
                device_row(
                    device, f"certificate expires in {days} days ({cert.not_after:%Y-%m-%d})"
                )
            )
        elif now - cert.not_before > max_age:
            failing.append(
                device_row(
                    device, f"certificate issued {cert.not_before:%Y-%m-%d}, older than allowed"
                )
            )
    return outcome_from_devices(
        failing,
        with_cert,
        "All {checked} device certificates are current.",
        "{n} devices need a certificate renewed.",
        {"renewal_days": window.days, "max_age_days": max_age.days},
    )
