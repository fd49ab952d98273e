"""Compliance checks on fleets built to pass and to fail; the maintenance job and its alerts;
the public PKI endpoints."""

import datetime

import pytest
from cryptography import x509
from django.utils import timezone
from rest_framework.test import APIClient

from devices.choices import LifecycleState
from devices.identity import checks, services
from devices.identity.choices import RevocationReason
from devices.identity.models import CertificateAuthority, DeviceCertificate, IdentityPolicy
from devices.identity.tasks import certificate_maintenance
from devices.monitoring.choices import AlertStatus
from devices.monitoring.models import Alert
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device

from .conftest import device_key, enroll_device, make_csr, openssl, write

pytestmark = pytest.mark.django_db


def deployed(world, n=2):
    out = []
    for _ in range(n):
        device = make_device(world.a.org, site=world.a.sites[0], state=LifecycleState.PROVISIONED)
        cert, key = enroll_device(world.a, device)
        type(device).objects.filter(pk=device.pk).update(state=LifecycleState.DEPLOYED)
        out.append((device, cert, key))
    return out


def failing(org):
    return {name: len(func(org)) for name, (func, _title) in checks.CHECKS.items()}


def test_a_healthy_fleet_passes_every_check(world, ca_a):
    deployed(world)
    assert failing(world.a.org) == dict.fromkeys(checks.CHECKS, 0)


def test_an_unhealthy_fleet_fails_each_check(world, ca_a):
    (_d1, c1, _), (_d2, c2, _) = deployed(world)
    # Legacy data: a second device carries the first device's key (imported inventory).
    DeviceCertificate.objects.filter(pk=c2.pk).update(spki_sha256=c1.spki_sha256)
    # An old certificate, a retired device with a valid certificate, a deployed device without.
    DeviceCertificate.objects.filter(pk=c1.pk).update(
        not_before=timezone.now() - datetime.timedelta(days=500)
    )
    retired = make_device(world.a.org, site=world.a.sites[0], state=LifecycleState.PROVISIONED)
    enroll_device(world.a, retired)
    type(retired).objects.filter(pk=retired.pk).update(state=LifecycleState.DECOMMISSIONED)
    make_device(world.a.org, site=world.a.sites[0], state=LifecycleState.DEPLOYED)
    # Keys that were fine when issued fall below the policy once it is tightened.
    IdentityPolicy.objects.filter(organization=world.a.org).update(min_ec_bits=384)
    # A certificate inside its renewal window, and a CA close to its end.
    DeviceCertificate.objects.filter(pk=c2.pk).update(
        not_after=timezone.now() + datetime.timedelta(days=3)
    )
    CertificateAuthority.objects.filter(pk=ca_a.pk).update(
        not_after=timezone.now() + datetime.timedelta(days=20)
    )
    result = failing(world.a.org)
    assert result["identity.unique_keys"] == 2
    assert result["identity.key_strength"] == 3
    assert result["identity.certificate_age"] == 1
    assert result["identity.retired_revoked"] == 1
    assert result["identity.deployed_enrolled"] == 1
    assert result["identity.renewal"] == 1
    assert result["identity.ca_expiry"] == 1
    assert result["identity.unique_certificates"] == 0  # prevented by the schema
    assert failing(world.b.org) == dict.fromkeys(checks.CHECKS, 0)


def test_maintenance_alerts_and_renewal_resolves(world, ca_a):
    (device, cert, _key), _ = deployed(world)
    DeviceCertificate.objects.filter(pk=cert.pk).update(
        not_after=timezone.now() + datetime.timedelta(days=5)
    )
    certificate_maintenance()
    certificate_maintenance()  # twice: still one alert
    alert = Alert.objects.get(dedupe_key=f"cert-expiring:{cert.pk}")
    assert alert.status == AlertStatus.OPEN and alert.severity == "high"
    assert alert.source == "identity" and alert.device == device
    cert.refresh_from_db()
    services.renew(device, cert, make_csr(device_key(), device.uid))
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED and alert.auto_resolved
    certificate_maintenance()
    assert (
        not Alert.objects.filter(kind__startswith="certificate.")
        .exclude(status=AlertStatus.RESOLVED)
        .exists()
    )


def test_expired_certificate_and_ca_alerts(world, ca_a):
    (_device, cert, _key), _ = deployed(world)
    DeviceCertificate.objects.filter(pk=cert.pk).update(
        not_after=timezone.now() - datetime.timedelta(hours=1)
    )
    CertificateAuthority.objects.filter(pk=ca_a.pk).update(
        not_after=timezone.now() + datetime.timedelta(days=10)
    )
    summary = certificate_maintenance()
    assert summary["certificates_flagged"] == 1 and summary["authorities_flagged"] == 1
    assert Alert.objects.get(dedupe_key=f"cert-expired:{cert.pk}").severity == "high"
    assert Alert.objects.filter(kind="ca.expiring", organization=world.a.org).exists()


def test_crl_is_resigned_before_next_update(world, ca_a):
    number = ca_a.crl_number
    CertificateAuthority.objects.filter(pk=ca_a.pk).update(
        crl_next_update=timezone.now() + datetime.timedelta(hours=2)
    )
    assert certificate_maintenance()["crls"] == 1
    ca_a.refresh_from_db()
    assert ca_a.crl_number == number + 1
    assert ca_a.crl_next_update > timezone.now() + datetime.timedelta(hours=23)
    assert certificate_maintenance()["crls"] == 0


def test_public_pki_endpoints(world, ca_a, device_a, tmp_path):
    cert, _key = enroll_device(world.a, device_a)
    services.revoke_certificate(
        cert, actor=world.a.user(Role.ADMIN), reason_code=RevocationReason.CESSATION_OF_OPERATION
    )
    anonymous = APIClient()
    slug = world.a.org.slug
    ca = anonymous.get(f"/pki/{slug}/ca.pem")
    assert ca.status_code == 200 and ca["Content-Type"] == "application/x-pem-file"
    pem = anonymous.get(f"/pki/{slug}/crl.pem")
    der = anonymous.get(f"/pki/{slug}/crl.der")
    assert der["Content-Type"] == "application/pkix-crl"
    crl = x509.load_der_x509_crl(der.content)
    assert crl.get_revoked_certificate_by_serial_number(int(cert.serial_hex, 16)) is not None
    ca_file = write(tmp_path, "ca.pem", ca.content.decode())
    der_file = write(tmp_path, "crl.der", der.content)
    result = openssl("crl", "-inform", "DER", "-in", der_file, "-CAfile", ca_file, "-noout")
    assert result.returncode == 0 and "verify OK" in result.stdout + result.stderr
    assert pem.content.decode().startswith("-----BEGIN X509 CRL-----")
    assert anonymous.get("/pki/no-such-org/crl.pem").status_code == 404
    assert anonymous.get(f"/pki/{world.b.org.slug}/ca.pem").status_code == 404  # no CA yet
