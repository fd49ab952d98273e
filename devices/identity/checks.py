"""Identity checks over one organization's fleet, for the compliance side to wrap.

Each function takes an ``Organization`` (and optional ``now``) and returns a list of
``Finding(device, detail, certificate=None, authority=None)`` -- the failing items; an empty list
means the check passes. They only read.

* ``shared_certificates(org)``: a certificate fingerprint on more than one device;
* ``shared_public_keys(org)``: one public key (SPKI SHA-256) in valid certificates of more than
  one device;
* ``weak_keys(org)``: valid certificates whose key is below the policy (type not allowed, RSA or
  EC size under the minimum);
* ``certificates_older_than_policy(org)``: valid certificates issued more than
  ``max_certificate_age_days`` ago;
* ``retired_devices_with_valid_certificates(org)``: decommissioning, decommissioned or disposed
  devices that still hold a valid certificate;
* ``authorities_expiring(org, within_days=None)``: issuing CAs expiring within N days (default:
  the policy's ``ca_expiry_warning_days``); ``device`` is ``None``, ``authority`` is set;
* ``deployed_without_certificate(org)``: deployed devices (type supports certificates) with no
  valid certificate;
* ``certificates_needing_renewal(org)``: in-service devices whose current certificate is inside
  the renewal window or expired.

``CHECKS`` maps a stable name to ``(function, title)`` for registries.
"""

import datetime
from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef
from django.utils import timezone

from devices.choices import LifecycleState
from devices.models import Device

from . import pki
from .models import CertificateAuthority, DeviceCertificate
from .services import policy_for
from .tasks import certificates_needing_renewal as _renewal_candidates


@dataclass(frozen=True)
class Finding:
    device: object
    detail: str
    certificate: object = None
    authority: object = None


def _valid(organization, now):
    return (
        DeviceCertificate.objects.filter(organization=organization)
        .valid(now)
        .select_related("device")
    )


def shared_certificates(organization, *, now=None):
    dupes = (
        DeviceCertificate.objects.filter(organization=organization)
        .values("fingerprint_sha256")
        .annotate(devices=Count("device", distinct=True))
        .filter(devices__gt=1)
        .values("fingerprint_sha256")
    )
    rows = DeviceCertificate.objects.filter(
        organization=organization, fingerprint_sha256__in=dupes
    ).select_related("device")
    return [
        Finding(c.device, f"certificate {c.fingerprint_sha256[:16]}… is on several devices", c)
        for c in rows
    ]


def shared_public_keys(organization, *, now=None):
    now = now or timezone.now()
    valid = _valid(organization, now)
    dupes = (
        valid.values("spki_sha256")
        .annotate(devices=Count("device", distinct=True))
        .filter(devices__gt=1)
        .values("spki_sha256")
    )
    return [
        Finding(c.device, f"public key {c.spki_sha256[:16]}… is shared with another device", c)
        for c in valid.filter(spki_sha256__in=dupes).order_by("spki_sha256", "device_id")
    ]


def weak_keys(organization, *, now=None):
    now = now or timezone.now()
    policy = policy_for(organization)
    findings = []
    for cert in _valid(organization, now):
        problem = pki.key_policy_problem(cert.certificate().public_key(), policy)
        if problem:
            findings.append(Finding(cert.device, problem, cert))
    return findings


def certificates_older_than_policy(organization, *, now=None):
    now = now or timezone.now()
    days = policy_for(organization).max_certificate_age_days
    cutoff = now - datetime.timedelta(days=days)
    return [
        Finding(cert.device, f"issued {cert.not_before:%Y-%m-%d}, over {days} days ago", cert)
        for cert in _valid(organization, now).filter(not_before__lt=cutoff)
    ]


RETIRED_STATES = (
    LifecycleState.DECOMMISSIONING,
    LifecycleState.DECOMMISSIONED,
    LifecycleState.DISPOSED,
)


def retired_devices_with_valid_certificates(organization, *, now=None):
    now = now or timezone.now()
    return [
        Finding(
            cert.device,
            f"{cert.device.get_state_display().lower()} but certificate {cert.serial_hex[:12]}… "
            f"is valid until {cert.not_after:%Y-%m-%d}",
            cert,
        )
        for cert in _valid(organization, now).filter(device__state__in=RETIRED_STATES)
    ]


def authorities_expiring(organization, *, within_days=None, now=None):
    now = now or timezone.now()
    if within_days is None:
        within_days = policy_for(organization).ca_expiry_warning_days
    rows = CertificateAuthority.objects.filter(
        organization=organization,
        is_active=True,
        not_after__lte=now + datetime.timedelta(days=within_days),
    )
    return [
        Finding(None, f"CA {ca.name} expires on {ca.not_after:%Y-%m-%d}", authority=ca)
        for ca in rows
    ]


def deployed_without_certificate(organization, *, now=None):
    now = now or timezone.now()
    has_valid = DeviceCertificate.objects.filter(device_id=OuterRef("pk")).valid(now)
    rows = Device.objects.filter(
        organization=organization,
        state=LifecycleState.DEPLOYED,
        device_type__supports_certificates=True,
    ).exclude(Exists(has_valid))
    return [Finding(d, "deployed without a valid certificate") for d in rows]


def certificates_needing_renewal(organization, *, now=None):
    now = now or timezone.now()
    return [
        Finding(
            cert.device,
            f"certificate {'expired' if cert.not_after <= now else 'expires'} "
            f"{cert.not_after:%Y-%m-%d}: renew it",
            cert,
        )
        for cert in _renewal_candidates(organization, now=now)
    ]


CHECKS = {
    "identity.unique_certificates": (shared_certificates, "No two devices share a certificate"),
    "identity.unique_keys": (shared_public_keys, "No two devices share a public key"),
    "identity.key_strength": (weak_keys, "No device key below policy"),
    "identity.certificate_age": (
        certificates_older_than_policy,
        "No certificate older than policy",
    ),
    "identity.retired_revoked": (
        retired_devices_with_valid_certificates,
        "Retired devices hold no valid certificate",
    ),
    "identity.ca_expiry": (authorities_expiring, "Issuing CA not close to expiry"),
    "identity.deployed_enrolled": (
        deployed_without_certificate,
        "Every deployed device has a valid certificate",
    ),
    "identity.renewal": (
        certificates_needing_renewal,
        "No device certificate inside its renewal window",
    ),
}
