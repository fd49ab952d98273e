"""The identity maintenance job (django-q2, hourly; safe to run twice).

1. revoke certificates whose post-renewal overlap has ended (reason *superseded*);
2. raise ``certificate.expiring`` / ``certificate.expired`` alerts for devices in service whose
   current certificate is inside the renewal window or past its end (resolved automatically when
   the device renews or the certificate is revoked);
3. raise ``ca.expiring`` alerts for issuing CAs close to their end;
4. re-sign every CRL whose next-update is less than half its validity away.
"""

import datetime
import logging

from django.db.models import Exists, OuterRef
from django.utils import timezone

from devices.choices import ACTIVE_STATES
from encompass.tenancy.models import Organization

from .models import CertificateAuthority, DeviceCertificate
from .services import policy_for, regenerate_crl, revoke_superseded

logger = logging.getLogger(__name__)
JOB = "job:identity-maintenance"


def _alerts():
    from devices.monitoring.choices import AlertSeverity, AlertSource
    from devices.monitoring.services import raise_alert

    return AlertSeverity, AlertSource, raise_alert


def certificates_needing_renewal(organization, *, now=None, window_days=None):
    """Current certificates of in-service devices that expire within the window (or expired).

    "Current" means not revoked, not already renewed, and no newer unrevoked certificate on the
    device that outlives it.
    """
    now = now or timezone.now()
    if window_days is None:
        policy = policy_for(organization)
        # Short-lived certificates are always close to their end: only expiry is news.
        window_days = 0 if policy.short_lived_hours else policy.renewal_window_days
    newer = DeviceCertificate.objects.filter(
        device_id=OuterRef("device_id"),
        revoked_at__isnull=True,
        not_after__gt=OuterRef("not_after"),
    )
    return (
        DeviceCertificate.objects.filter(
            organization=organization,
            revoked_at__isnull=True,
            replaced_by__isnull=True,
            not_after__lte=now + datetime.timedelta(days=window_days),
            device__state__in=ACTIVE_STATES,
        )
        .exclude(Exists(newer))
        .select_related("device__site", "organization")
    )


def flag_certificates(organization, *, now=None):
    AlertSeverity, AlertSource, raise_alert = _alerts()
    now = now or timezone.now()
    count = 0
    for cert in certificates_needing_renewal(organization, now=now):
        if cert.not_after <= now:
            kind, key = "certificate.expired", f"cert-expired:{cert.pk}"
            title = f"Certificate of {cert.device} expired on {cert.not_after:%Y-%m-%d}"
            severity = AlertSeverity.HIGH
        else:
            days = (cert.not_after - now).days
            kind, key = "certificate.expiring", f"cert-expiring:{cert.pk}"
            title = f"Certificate of {cert.device} expires in {days} day(s)"
            severity = AlertSeverity.HIGH if days < 7 else AlertSeverity.MEDIUM
        raise_alert(
            organization=organization,
            kind=kind,
            title=title,
            severity=severity,
            dedupe_key=key,
            device=cert.device,
            source=AlertSource.IDENTITY,
            details={"serial": cert.serial_hex, "not_after": cert.not_after.isoformat()},
            actor=JOB,
        )
        count += 1
    return count


def flag_authorities(organization, *, now=None):
    AlertSeverity, AlertSource, raise_alert = _alerts()
    now = now or timezone.now()
    warn = datetime.timedelta(days=policy_for(organization).ca_expiry_warning_days)
    count = 0
    for ca in CertificateAuthority.objects.filter(
        organization=organization, is_active=True, not_after__lte=now + warn
    ):
        days = (ca.not_after - now).days
        raise_alert(
            organization=organization,
            kind="ca.expiring",
            title=f"Certificate authority {ca.name} expires in {max(days, 0)} day(s)",
            severity=AlertSeverity.HIGH if days < 30 else AlertSeverity.MEDIUM,
            dedupe_key=f"ca-expiring:{ca.pk}",
            source=AlertSource.IDENTITY,
            details={"authority": ca.pk, "not_after": ca.not_after.isoformat()},
            actor=JOB,
        )
        count += 1
    return count


def refresh_crls(*, now=None):
    """Re-sign CRLs that are missing or past half their validity."""
    now = now or timezone.now()
    count = 0
    for ca in CertificateAuthority.objects.filter(not_after__gt=now).select_related("organization"):
        hours = policy_for(ca.organization).crl_validity_hours
        if ca.crl_next_update is None or ca.crl_next_update - now < datetime.timedelta(
            hours=hours / 2
        ):
            regenerate_crl(ca, actor=JOB)
            count += 1
    return count


def refresh_ocsp_responders(*, now=None):
    """Issue each unexpired CA a new OCSP responder certificate before the current one ends."""
    from .services.ocsp import ensure_ocsp_responder

    now = now or timezone.now()
    issued = 0
    for ca in CertificateAuthority.objects.filter(not_after__gt=now):
        before = ca.ocsp_responders.count()
        ensure_ocsp_responder(ca, actor=JOB, now=now)
        issued += ca.ocsp_responders.count() - before
    return issued


def certificate_maintenance():
    now = timezone.now()
    summary = {"superseded_revoked": revoke_superseded(now=now, actor=JOB)}
    flagged = authorities = 0
    organizations = Organization.objects.filter(
        pk__in=CertificateAuthority.objects.values("organization_id")
    )
    for organization in organizations:
        flagged += flag_certificates(organization, now=now)
        authorities += flag_authorities(organization, now=now)
    summary.update(
        certificates_flagged=flagged,
        authorities_flagged=authorities,
        crls=refresh_crls(now=now),
        ocsp_responders=refresh_ocsp_responders(now=now),
    )
    logger.info("identity maintenance: %s", summary)
    return summary
