"""Checks on device certificates. They wrap the identity app's own queries
(``devices.identity.checks``: one definition of "shared", "weak", "needs renewal" for the whole
platform, using the organization's identity policy); without the identity app they report
"not applicable"."""

from . import CheckOutcome, en_18031, outcome_from_devices, register

NOT_INSTALLED = "identity not installed (no device certificates to check)"


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


def finding_rows(findings):
    """Identity ``Finding``s as stored failing rows, one per device (details joined)."""
    rows = {}
    for f in findings:
        if f.device is None:
            key = ("authority", getattr(f.authority, "pk", None))
            rows.setdefault(
                key, {"name": str(f.authority), "reason": f.detail, "authority": key[1]}
            )
            continue
        d = f.device
        row = rows.setdefault(
            ("device", d.pk),
            {
                "id": d.pk,
                "uid": d.uid,
                "name": str(d),
                "site": d.site_id,
                "device_type": d.device_type_id,
                "reason": f.detail,
            },
        )
        if f.detail not in row["reason"]:
            row["reason"] += "; " + f.detail
    return list(rows.values())


def _valid_count(organization, now):
    from devices.choices import ACTIVE_STATES

    return (
        certificates_model()
        .objects.valid(now)
        .filter(organization=organization, device__state__in=ACTIVE_STATES)
        .count()
    )


@register(
    "no-shared-keys",
    "No certificate or key shared between devices",
    maps={
        "etsi-en-303-645": ["5.4-4", "5.5-8"],
        **en_18031("CCK-3"),
        "nist-csf": ["PR.AA-01"],
        "iec-62443-4-2": ["CR 1.9", "CR 1.5"],
        "iso-27001-annex-a": ["A.8.24"],
    },
    remedy="Revoke the shared certificates and have each device enroll with a fresh key pair.",
)
def no_shared_keys(organization, *, now):
    """Two devices holding the same certificate or public key can impersonate each other."""
    checks = identity_checks()
    if checks is None:
        return CheckOutcome.not_applicable(NOT_INSTALLED)
    findings = checks.shared_certificates(organization, now=now) + checks.shared_public_keys(
        organization, now=now
    )
    return outcome_from_devices(
        finding_rows(findings),
        _valid_count(organization, now),
        "None of the {checked} valid certificates shares a key with another device.",
        "{n} devices share a certificate or key with another device.",
    )


@register(
    "key-strength",
    "Device keys meet the identity policy's minimum strength",
    maps={
        "etsi-en-303-645": ["5.5-1", "5.1-3"],
        **en_18031("CCK-1", "CRY-1"),
        "nist-csf": ["PR.DS-02"],
        "iec-62443-4-2": ["CR 4.3", "CR 1.9"],
        "iso-27001-annex-a": ["A.8.24"],
    },
    remedy="Renew the listed certificates with an ECDSA P-256 (or stronger) key.",
)
def key_strength(organization, *, now):
    """Valid device certificates use a key type and size the identity policy allows."""
    checks = identity_checks()
    if checks is None:
        return CheckOutcome.not_applicable(NOT_INSTALLED)
    return outcome_from_devices(
        finding_rows(checks.weak_keys(organization, now=now)),
        _valid_count(organization, now),
        "All {checked} valid device certificates use keys the policy allows.",
        "{n} devices hold certificates with keys below the policy.",
    )


@register(
    "certificate-expiry",
    "Certificates current: none expiring, expired or older than the policy",
    maps={
        "etsi-en-303-645": ["5.5-8"],
        **en_18031("AUM-3"),
        "nist-csf": ["PR.AA-01"],
        "iec-62443-4-2": ["CR 1.8"],
        "iso-27001-annex-a": ["A.8.24"],
    },
    remedy="Renew the certificates (devices renew over the device API), and renew a CA early.",
)
def certificate_expiry(organization, *, now):
    """Devices in service renew inside the renewal window, no certificate outlives the
    policy's maximum age, and the issuing CA is not about to expire."""
    checks = identity_checks()
    if checks is None:
        return CheckOutcome.not_applicable(NOT_INSTALLED)
    findings = (
        checks.certificates_needing_renewal(organization, now=now)
        + checks.certificates_older_than_policy(organization, now=now)
        + checks.authorities_expiring(organization, now=now)
    )
    return outcome_from_devices(
        finding_rows(findings),
        _valid_count(organization, now),
        "All {checked} device certificates and the issuing CA are current.",
        "{n} certificates or authorities need renewing.",
    )
