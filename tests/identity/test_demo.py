"""The identity demo seed: CA and policy per organization, devices enrolled and deployed."""

import pytest

from devices.choices import LifecycleState
from devices.identity import checks, demo
from devices.identity.models import CertificateAuthority, DeviceCertificate, IdentityPolicy
from devices.monitoring.models import Alert
from encompass.demo import DemoContext, DemoOrg
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device

pytestmark = pytest.mark.django_db


def test_seed_enrolls_and_deploys(world):
    orgs = []
    to_deploy = {}
    for tenant in (world.a, world.b):
        orgs.append(
            DemoOrg(
                org=tenant.org,
                sites=tenant.sites,
                users=dict(tenant.users),
                admin=tenant.user(Role.ADMIN),
            )
        )
        to_deploy[tenant.org.slug] = [
            make_device(tenant.org, site=tenant.sites[0], state=LifecycleState.PROVISIONED)
            for _ in range(4)
        ]
    ctx = DemoContext(orgs=orgs, credentials=[], log=lambda message: None)
    ctx.data["devices_to_deploy"] = to_deploy
    demo.seed(ctx)
    for tenant in (world.a, world.b):
        assert CertificateAuthority.objects.filter(organization=tenant.org, is_active=True).exists()
        assert IdentityPolicy.objects.filter(organization=tenant.org).exists()
        for device in to_deploy[tenant.org.slug]:
            device.refresh_from_db()
            assert device.state == LifecycleState.DEPLOYED
            assert device.uid in ctx.data["device_keys"]
        renew = checks.certificates_needing_renewal(tenant.org)
        assert len(renew) == demo.SHORT_LIVED
        assert Alert.objects.filter(
            organization=tenant.org, kind="certificate.expiring"
        ).count() == (demo.SHORT_LIVED)
    count = DeviceCertificate.objects.count()
    demo.seed(ctx)  # a second run adds nothing
    assert DeviceCertificate.objects.count() == count
