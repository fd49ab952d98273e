"""Compliance fixtures: the shipped catalogues loaded once per test session (every test's
transaction rolls back to them), and a small fleet builder."""

import pytest

from compliance.services.loading import load_catalogue


@pytest.fixture(scope="session")
def catalogue(django_db_setup, django_db_blocker):
    from compliance.models import Framework

    with django_db_blocker.unblock():
        if not Framework.objects.exists():
            load_catalogue()
    return True


@pytest.fixture
def frameworks(catalogue, db):
    from compliance.models import Framework

    return {f.code: f for f in Framework.objects.all()}


@pytest.fixture
def fleet(world):
    """Devices of tenant A: one deployed device per site, reporting now."""
    from django.utils import timezone

    from devices.choices import LifecycleState
    from devices.models import Device
    from encompass.testing.factories import make_device, make_device_type

    dtype = make_device_type(world.a.org, heartbeat_interval=60)
    devices = [
        make_device(
            world.a.org,
            site=site,
            device_type=dtype,
            state=LifecycleState.DEPLOYED,
            token_hash=f"{i:064x}",
        )
        for i, site in enumerate(world.a.sites, start=1)
    ]
    Device.objects.filter(pk__in=[d.pk for d in devices]).update(last_seen_at=timezone.now())
    for d in devices:
        d.refresh_from_db()
    return devices


@pytest.fixture
def certificate_authority(world):
    from devices.identity.services import create_certificate_authority
    from encompass.tenancy.roles import Role

    return create_certificate_authority(
        organization=world.a.org, actor=world.a.user(Role.ADMIN), name="A devices"
    )


def issue(device, *, days=None, key=None, actor="test"):
    """Issue a certificate to ``device`` (the device keeps ``key``); returns (cert, key)."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from django.db import transaction

    from devices.identity.choices import IssuedVia
    from devices.identity.services.issuance import issue_certificate

    key = key or ec.generate_private_key(ec.SECP256R1())
    with transaction.atomic():
        cert = issue_certificate(
            device, key.public_key(), actor=actor, via=IssuedVia.FACTORY, validity_days=days
        )
    return cert, key


def csr_for(key):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
        .decode()
    )
