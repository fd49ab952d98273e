"""The CA rotation drill: a new CA is introduced, devices renew onto it, and the old CA's
rotation view shows who is left and why; the old CA keeps its CRL and OCSP meanwhile."""

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from rest_framework.test import APIClient

from devices.choices import LifecycleState
from devices.identity import services
from devices.identity.services.ocsp import answer_ocsp
from devices.models import Device
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device

from .conftest import device_key, make_csr

pytestmark = pytest.mark.django_db


def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_rotation_progress_and_what_blocks_it(world, ca_a):
    operator = world.a.user(Role.OPERATOR)
    devices = [
        make_device(world.a.org, site=world.a.sites[0], state=LifecycleState.PROVISIONED)
        for _ in range(3)
    ]
    certs = {}
    for device in devices:
        _t, token = services.create_enrollment_token(device, actor=operator)
        certs[device.pk] = services.enroll(token=token, csr_pem=make_csr(device_key(), device.uid))
    new_ca = services.create_certificate_authority(
        organization=world.a.org, actor=world.a.user(Role.ADMIN), name="A devices 2027"
    )
    first, second, third = devices
    renewed = services.renew(first, certs[first.pk], make_csr(device_key(), first.uid))
    assert renewed.authority_id == new_ca.pk
    Device.objects.filter(pk=third.pk).update(state=LifecycleState.QUARANTINED)

    url = f"/api/v1/certificate-authorities/{ca_a.pk}/rotation/"
    body = api(world.a.user(Role.SECURITY_OFFICER)).get(url).json()
    assert body["issuing_authority"] == new_ca.pk and body["is_issuing"] is False
    assert body["devices_on_issuing_ca"] == 1
    assert body["devices_on_this_ca"] == 2  # the renewed one counts on its new certificate
    reasons = {b["device_uid"]: b["reason"] for b in body["blockers"]}
    assert set(reasons) == {second.uid, third.uid}
    assert "has never authenticated" in reasons[second.uid]
    assert "cannot renew" in reasons[third.uid]
    assert body["last_certificate_expires"]

    # The old CA still answers OCSP for what it issued.
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(certs[second.pk].certificate(), ca_a.certificate(), hashes.SHA1())
        .build()
    )
    answer = ocsp.load_der_ocsp_response(
        answer_ocsp(world.a.org, request.public_bytes(serialization.Encoding.DER))
    )
    assert answer.certificate_status == ocsp.OCSPCertStatus.GOOD

    # Another organization sees nothing of it.
    assert api(world.b.user(Role.ADMIN)).get(url).status_code == 404
