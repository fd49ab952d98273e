"""Short-lived certificates as a policy option: 24-hour certificates, renewed every cycle, and
only expiry is alerted on."""

import datetime

import pytest
from rest_framework.test import APIClient

from devices.identity import services
from devices.identity.models import IdentityPolicy
from devices.identity.tasks import certificates_needing_renewal
from encompass.tenancy.roles import Role

from .conftest import device_key, make_csr

pytestmark = pytest.mark.django_db


def test_policy_option_gives_24_hour_certificates(world, ca_a, device_a):
    policy = IdentityPolicy.objects.get(organization=world.a.org)
    client = APIClient()
    client.force_authenticate(world.a.user(Role.OPERATOR))
    url = f"/api/v1/identity-policies/{policy.pk}/"
    assert client.patch(url, {"short_lived_hours": 24}, format="json").status_code in (403, 404)
    client.force_authenticate(world.a.user(Role.SECURITY_OFFICER))
    bad = client.patch(url, {"short_lived_hours": 0}, format="json")
    assert bad.status_code == 400 and "short_lived_hours" in bad.json()
    answer = client.patch(url, {"short_lived_hours": 24}, format="json")
    assert answer.status_code == 200 and answer.json()["short_lived_hours"] == 24

    _t, token = services.create_enrollment_token(device_a, actor=world.a.user(Role.OPERATOR))
    cert = services.enroll(token=token, csr_pem=make_csr(device_key(), device_a.uid))
    lifetime = cert.not_after - cert.not_before
    assert datetime.timedelta(hours=24) <= lifetime <= datetime.timedelta(hours=24, minutes=5)
    # Always inside a 30-day window, but not news until it has actually expired.
    assert not certificates_needing_renewal(world.a.org).exists()
    later = cert.not_after + datetime.timedelta(minutes=1)
    assert list(certificates_needing_renewal(world.a.org, now=later)) == [cert]
    renewed = services.renew(device_a, cert, make_csr(device_key(), device_a.uid))
    assert renewed.not_after - renewed.not_before <= datetime.timedelta(hours=24, minutes=5)
