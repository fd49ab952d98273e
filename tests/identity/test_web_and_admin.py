"""The identity web pages and admin: tenant-scoped, flat query counts, revoke through services."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from devices.choices import LifecycleState
from devices.identity.choices import RevocationReason
from devices.identity.models import DeviceCertificate
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device
from encompass.testing.web import web

from .conftest import enroll_device

pytestmark = pytest.mark.django_db


def count_queries(func):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = func()
    assert response.status_code == 200
    return len(captured)


def fleet(world, n):
    certs = []
    for _ in range(n):
        device = make_device(world.a.org, site=world.a.sites[0], state=LifecycleState.DEPLOYED)
        certs.append(enroll_device(world.a, device)[0])
    return certs


def test_overview_shows_expiring_and_revoked(world, ca_a, ca_b):
    certs = fleet(world, 3)
    DeviceCertificate.objects.filter(pk=certs[0].pk).update(
        not_after=timezone.now() + datetime.timedelta(days=4)
    )
    from devices.identity.services import revoke_certificate

    revoke_certificate(
        certs[1], actor=world.a.user(Role.ADMIN), reason_code=RevocationReason.KEY_COMPROMISE
    )
    response = web(world.a.user(Role.AUDITOR)).get(reverse("identity_ui:overview"))
    assert response.status_code == 200
    assert response.context["expiring"] == [DeviceCertificate.objects.get(pk=certs[0].pk)]
    assert list(response.context["revoked"]) == [DeviceCertificate.objects.get(pk=certs[1].pk)]
    assert [ca.pk for ca in response.context["authorities"]] == [ca_a.pk]
    assert "Key compromise" in response.content.decode()


def test_overview_query_count_is_flat(world, ca_a):
    client = web(world.a.user(Role.OPERATOR))
    fleet(world, 2)
    few = count_queries(lambda: client.get(reverse("identity_ui:overview")))
    certs = fleet(world, 6)
    DeviceCertificate.objects.filter(pk__in=[c.pk for c in certs[:3]]).update(
        not_after=timezone.now() + datetime.timedelta(days=3)
    )
    many = count_queries(lambda: client.get(reverse("identity_ui:overview")))
    assert many == few


def test_authority_page_is_tenant_scoped(world, ca_a, ca_b):
    user = world.a.user(Role.TECHNICIAN)
    assert web(user).get(reverse("identity_ui:authority", args=[ca_a.pk])).status_code == 200
    assert web(user).get(reverse("identity_ui:authority", args=[ca_b.pk])).status_code == 404


def test_admin_revoke_action_uses_the_service(world, ca_a):
    certs = fleet(world, 2)
    url = reverse("admin:identity_devicecertificate_changelist")
    payload = {"action": "revoke_key_compromise", "_selected_action": [certs[0].pk]}
    web(world.a.user(Role.OPERATOR)).post(url, payload, follow=True)
    certs[0].refresh_from_db()
    assert certs[0].revoked_at is None  # operators may not revoke
    response = web(world.a.user(Role.SECURITY_OFFICER)).post(url, payload, follow=True)
    assert response.status_code == 200
    certs[0].refresh_from_db()
    assert certs[0].revocation_reason == RevocationReason.KEY_COMPROMISE
    certs[1].refresh_from_db()
    assert certs[1].revoked_at is None


def test_admin_changelist_hides_other_tenant_and_stays_flat(world, ca_a, ca_b):
    client = web(world.a.user(Role.OPERATOR))
    url = reverse("admin:identity_devicecertificate_changelist")
    fleet(world, 2)
    few = count_queries(lambda: client.get(url))
    fleet(world, 6)
    assert count_queries(lambda: client.get(url)) == few
    response = client.get(reverse("admin:identity_certificateauthority_changelist"))
    assert response.status_code == 200
    body = response.content.decode()
    assert ca_a.name in body and ca_b.name not in body
    assert "PRIVATE KEY" not in body and ca_a.key_reference not in body


def test_enrollment_token_page_shows_the_token_once(world, ca_a):
    from devices.identity.models import EnrollmentToken

    device = make_device(world.a.org, site=world.a.sites[0], state=LifecycleState.PROVISIONED)
    other = make_device(world.b.org, site=world.b.sites[0], state=LifecycleState.PROVISIONED)
    url = reverse("identity_ui:token-new")
    client = web(world.a.user(Role.OPERATOR))
    response = client.post(url, {"device": device.pk, "ttl_hours": 4})
    assert response.status_code == 200
    plaintext = response.context["issued"]["plaintext"]
    assert plaintext.startswith("enr_") and plaintext in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    assert EnrollmentToken.objects.filter(device=device).count() == 1
    assert plaintext not in client.get(url).content.decode()
    refused = client.post(url, {"device": other.pk})
    assert "device" in refused.context["form"].errors
    auditor = web(world.a.user(Role.AUDITOR)).post(url, {"device": device.pk})
    assert auditor.context["issued"] is None
    assert EnrollmentToken.objects.filter(device=device).count() == 1
