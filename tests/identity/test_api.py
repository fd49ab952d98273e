"""REST endpoints of identity: the tenant contract, domain actions per role, cross-tenant."""

import base64

import pytest
from cryptography.hazmat.primitives.serialization import pkcs12
from django.urls import reverse
from rest_framework.test import APIClient

from devices.choices import LifecycleState
from devices.identity import services
from devices.identity.choices import RevocationReason
from devices.identity.models import (
    CertificateAuthority,
    DeviceCertificate,
    EnrollmentToken,
    IdentityPolicy,
)
from encompass.audit.models import AuditEntry
from encompass.tenancy.roles import Role
from encompass.testing.api import ROLES, TenantAPIContract
from encompass.testing.factories import make_device

from .conftest import enroll_device

pytestmark = pytest.mark.django_db


def client(user):
    c = APIClient()
    c.force_authenticate(user)
    return c


def _ca(tenant):
    return CertificateAuthority.objects.filter(organization=tenant.org, is_active=True).first() or (
        services.create_certificate_authority(
            organization=tenant.org, actor=tenant.user(Role.ADMIN)
        )
    )


def _device(tenant):
    return make_device(tenant.org, site=tenant.sites[0], state=LifecycleState.PROVISIONED)


class TestCertificateAuthorityAPI(TenantAPIContract):
    basename = "certificateauthority"
    model = CertificateAuthority
    updatable = False
    deletable = False

    def make(self, world, tenant):
        return _ca(tenant)

    def create_payload(self, world, tenant):
        return {"organization": tenant.org.pk, "name": "Plant CA", "key_algorithm": "ec-p384"}

    def test_no_private_key_in_answers(self, world):
        ca = _ca(world.a)
        body = client(world.a.user(Role.ADMIN)).get(self.detail_url(ca)).content.decode()
        assert "PRIVATE KEY" not in body
        assert "key_reference" not in body and ca.key_reference not in body


class TestDeviceCertificateAPI(TenantAPIContract):
    basename = "devicecertificate"
    model = DeviceCertificate
    creatable = updatable = deletable = False

    def make(self, world, tenant):
        _ca(tenant)
        return enroll_device(tenant, _device(tenant))[0]

    @pytest.mark.parametrize("role", ROLES)
    def test_revoke_by_role(self, world, role):
        cert = self.make(world, world.a)
        response = client(world.a.user(role)).post(
            reverse("devicecertificate-revoke", args=[cert.pk]),
            {"reason": "key_compromise", "note": "lost in transit"},
            format="json",
        )
        cert.refresh_from_db()
        if role in self.allowed("revoke"):
            assert response.status_code == 200, response.content
            assert response.json()["status"] == "revoked"
            assert cert.revocation_reason == RevocationReason.KEY_COMPROMISE
            assert self.audited(cert.pk, "revoke")
        else:
            assert response.status_code == 403
            assert cert.revoked_at is None

    def test_revoke_other_tenant_is_not_found(self, world):
        theirs = self.make(world, world.b)
        response = client(world.a.user(Role.ADMIN)).post(
            reverse("devicecertificate-revoke", args=[theirs.pk]),
            {"reason": "superseded"},
            format="json",
        )
        assert response.status_code == 404
        theirs.refresh_from_db()
        assert theirs.revoked_at is None

    def test_revoke_needs_a_known_reason(self, world):
        cert = self.make(world, world.a)
        response = client(world.a.user(Role.ADMIN)).post(
            reverse("devicecertificate-revoke", args=[cert.pk]), {"reason": "bored"}, format="json"
        )
        assert response.status_code == 400
        assert "reason" in response.json()

    def test_list_query_count_is_flat(self, world, django_assert_max_num_queries):
        _ca(world.a)
        for _ in range(6):
            enroll_device(world.a, _device(world.a))
        with django_assert_max_num_queries(12):
            response = client(world.a.user(Role.AUDITOR)).get(self.list_url())
        assert len(self.ids(response)) == 6

    @pytest.mark.parametrize("role", ROLES)
    def test_factory_bundle_by_role(self, world, role):
        _ca(world.a)
        device = _device(world.a)
        response = client(world.a.user(role)).post(
            reverse("devicecertificate-factory-bundle"),
            {"device": device.pk, "password": "correct horse battery"},
            format="json",
        )
        if role == Role.ADMIN:
            assert response.status_code == 201, response.content
            bundle = base64.b64decode(response.json()["pkcs12_base64"])
            key, cert, cas = pkcs12.load_key_and_certificates(bundle, b"correct horse battery")
            assert cert.public_key().public_numbers() == key.public_key().public_numbers()
            assert len(cas) == 1
            record = DeviceCertificate.objects.get(device=device)
            assert record.key_generated_by_platform
            assert AuditEntry.objects.filter(
                action="identity.devicecertificate.factory_bundle", object_id=str(record.pk)
            ).exists()
            assert "PRIVATE" not in str(list(AuditEntry.objects.values_list("changes", flat=True)))
        else:
            assert response.status_code == 403
            assert not DeviceCertificate.objects.filter(device=device).exists()

    def test_factory_bundle_for_other_tenant_device_is_refused(self, world):
        _ca(world.b)
        theirs = _device(world.b)
        response = client(world.a.user(Role.ADMIN)).post(
            reverse("devicecertificate-factory-bundle"),
            {"device": theirs.pk, "password": "correct horse battery"},
            format="json",
        )
        assert response.status_code == 400
        assert "device" in response.json()

    def test_factory_bundle_weak_password(self, world):
        _ca(world.a)
        response = client(world.a.user(Role.ADMIN)).post(
            reverse("devicecertificate-factory-bundle"),
            {"device": _device(world.a).pk, "password": "short"},
            format="json",
        )
        assert response.status_code == 400
        assert "password" in response.json()


class TestEnrollmentTokenAPI(TenantAPIContract):
    basename = "enrollmenttoken"
    model = EnrollmentToken
    updatable = False
    deletable = False

    def make(self, world, tenant):
        return services.create_enrollment_token(_device(tenant), actor=tenant.user(Role.ADMIN))[0]

    def create_payload(self, world, tenant):
        return {"device": _device(tenant).pk, "ttl_hours": 2, "note": "line 3"}

    def test_token_shown_once_and_stored_hashed(self, world):
        device = _device(world.a)
        response = client(world.a.user(Role.OPERATOR)).post(
            self.list_url(), {"device": device.pk}, format="json"
        )
        assert response.status_code == 201
        token = response.json()["token"]
        assert token.startswith("enr_")
        row = EnrollmentToken.objects.get(pk=response.json()["id"])
        assert token not in row.token_hash
        detail = client(world.a.user(Role.OPERATOR)).get(self.detail_url(row)).json()
        assert detail["token"] is None
        assert not AuditEntry.objects.filter(changes__icontains=token).exists()

    @pytest.mark.parametrize("role", ROLES)
    def test_revoke_by_role(self, world, role):
        token = self.make(world, world.a)
        response = client(world.a.user(role)).post(
            reverse("enrollmenttoken-revoke", args=[token.pk])
        )
        token.refresh_from_db()
        if role in self.allowed("revoke"):
            assert response.status_code == 200
            assert token.revoked_at is not None
        else:
            assert response.status_code == 403
            assert token.revoked_at is None

    def test_ttl_out_of_range(self, world):
        response = client(world.a.user(Role.ADMIN)).post(
            self.list_url(), {"device": _device(world.a).pk, "ttl_hours": 100000}, format="json"
        )
        assert response.status_code == 400
        assert "ttl_hours" in response.json()


class TestIdentityPolicyAPI(TenantAPIContract):
    basename = "identitypolicy"
    model = IdentityPolicy
    deletable = False

    def make(self, world, tenant):
        return services.ensure_policy(tenant.org, actor="test")

    def create_payload(self, world, tenant):
        return {"organization": tenant.org.pk, "certificate_validity_days": 60}

    def update_payload(self, world, obj):
        return {"certificate_validity_days": 45, "allowed_key_types": ["ec"]}

    def test_invalid_policy_names_the_field(self, world):
        policy = self.make(world, world.a)
        response = client(world.a.user(Role.ADMIN)).patch(
            self.detail_url(policy), {"renewal_window_days": 400}, format="json"
        )
        assert response.status_code == 400
        assert "renewal_window_days" in response.json()
        response = client(world.a.user(Role.ADMIN)).patch(
            self.detail_url(policy), {"allowed_key_types": ["dsa"]}, format="json"
        )
        assert response.status_code == 400
        assert "allowed_key_types" in response.json()
        policy.refresh_from_db()
        assert policy.renewal_window_days == 30

    def test_policy_applies_to_enrollment(self, world):
        _ca(world.a)
        policy = self.make(world, world.a)
        client(world.a.user(Role.SECURITY_OFFICER)).patch(
            self.detail_url(policy),
            {
                "certificate_validity_days": 30,
                "renewal_window_days": 10,
                "allowed_key_types": ["ec"],
            },
            format="json",
        )
        cert, _ = enroll_device(world.a, _device(world.a))
        assert (cert.not_after - cert.not_before).days == 30
        from encompass.exceptions import ValidationError

        with pytest.raises(ValidationError, match="not allowed by the policy"):
            enroll_device(world.a, _device(world.a), kind="rsa-3072")


@pytest.mark.parametrize("role", ROLES)
def test_import_ca_by_role(world, role):
    from .test_import import intermediate_material

    cert_pem, key_pem, chain_pem = intermediate_material()
    response = client(world.a.user(role)).post(
        reverse("certificateauthority-import"),
        {
            "organization": world.a.org.pk,
            "certificate_pem": cert_pem,
            "private_key_pem": key_pem,
            "chain_pem": chain_pem,
        },
        format="json",
    )
    if role in (Role.ADMIN, Role.SECURITY_OFFICER):
        assert response.status_code == 201, response.content
        assert response.json()["kind"] == "intermediate"
        assert "PRIVATE KEY" not in response.content.decode()
    else:
        assert response.status_code == 403
        assert not CertificateAuthority.objects.exists()


def test_bulk_factory_command(world, tmp_path):
    from django.core.management import CommandError, call_command

    _ca(world.a)
    devices = [_device(world.a) for _ in range(2)]
    theirs = _device(world.b)
    secret = tmp_path / "pw"
    secret.write_text("a long factory password\n")
    out = tmp_path / "bundles"
    with pytest.raises(CommandError, match="1 device"):
        call_command(
            "factory_bundles",
            *[d.uid for d in devices],
            theirs.uid,
            actor=world.a.user(Role.ADMIN).username,
            out=str(out),
            password_file=str(secret),
        )
    for device in devices:
        data = (out / f"{device.uid}.p12").read_bytes()
        key, cert, _cas = pkcs12.load_key_and_certificates(data, b"a long factory password")
        assert f"CN={device.uid}" in cert.subject.rfc4514_string()
        assert cert.public_key().public_numbers() == key.public_key().public_numbers()
        assert oct((out / f"{device.uid}.p12").stat().st_mode & 0o777) == "0o600"
    assert not (out / f"{theirs.uid}.p12").exists()
    with pytest.raises(CommandError):
        call_command(
            "factory_bundles",
            _device(world.a).uid,
            actor=world.a.user(Role.OPERATOR).username,
            out=str(out),
            password_file=str(secret),
        )
