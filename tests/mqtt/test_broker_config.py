"""``manage.py mqtt_broker_config``: the files, who may issue the service certificates, audit."""

import io

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from django.core.management import CommandError, call_command

from devices.identity import services as identity
from encompass.audit.models import AuditEntry
from encompass.tenancy.roles import Role


@pytest.fixture
def cas(world):
    for tenant in (world.a, world.b):
        identity.create_certificate_authority(
            organization=tenant.org, actor=tenant.user(Role.ADMIN), name="CA"
        )
    return world


def run(world, tmp_path, role=Role.SECURITY_OFFICER, **extra):
    out = io.StringIO()
    call_command(
        "mqtt_broker_config",
        organization=world.a.org.slug,
        actor=world.a.user(role).username,
        dir=str(tmp_path),
        stdout=out,
        **extra,
    )
    return out.getvalue()


@pytest.mark.django_db
def test_writes_the_listener_acls_bundles_and_audited_service_certificates(cas, tmp_path):
    run(cas, tmp_path)
    conf = (tmp_path / "mosquitto.conf").read_text()
    for line in (
        "per_listener_settings true",
        "require_certificate true",
        "use_identity_as_username true",
        "allow_anonymous false",
        f"crlfile {tmp_path / 'crl.pem'}",
        f"acl_file {tmp_path / 'devices.acl'}",
    ):
        assert line in conf
    assert "allow_anonymous true" not in conf
    assert (tmp_path / "devices.acl").read_text().splitlines()[2:] == [
        "pattern write devices/%u/events",
        "pattern write devices/%u/status",
        "pattern read devices/%u/commands",
    ]
    assert "user svc_encompass-bridge" in (tmp_path / "service.acl").read_text()
    # Every organization's CA verifies devices; only the operator's verifies the bridge.
    devices_cas = x509.load_pem_x509_certificates((tmp_path / "device-cas.pem").read_bytes())
    service_cas = x509.load_pem_x509_certificates((tmp_path / "service-ca.pem").read_bytes())
    assert len(devices_cas) == 2 and len(service_cas) == 1
    assert (tmp_path / "crl.pem").read_text().count("BEGIN X509 CRL") == 2
    server = x509.load_pem_x509_certificates((tmp_path / "server.crt").read_bytes())[0]
    eku = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku
    assert oct((tmp_path / "server.key").stat().st_mode & 0o777) == "0o640"
    assert oct((tmp_path / "bridge.key").stat().st_mode & 0o777) == "0o600"
    entries = AuditEntry.objects.filter(action="mqtt.servicecertificate.issue")
    assert sorted(e.changes["purpose"] for e in entries) == ["client", "server"]
    assert {e.organization_id for e in entries} == {cas.a.org.pk}
    # Rerun without --issue keeps the certificates; with --issue renews them.
    issued = AuditEntry.objects.filter(action="mqtt.servicecertificate.issue")
    run(cas, tmp_path)
    assert issued.count() == 2
    run(cas, tmp_path, issue=True)
    assert issued.count() == 4


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.OPERATOR, Role.TECHNICIAN, Role.AUDITOR])
def test_only_admins_and_security_officers_issue_the_service_certificates(cas, tmp_path, role):
    with pytest.raises(CommandError, match="may not issue"):
        run(cas, tmp_path, role=role)
    assert not (tmp_path / "server.key").exists()
    assert not AuditEntry.objects.filter(action="mqtt.servicecertificate.issue").exists()


@pytest.mark.django_db
def test_another_organizations_admin_cannot_use_the_operator_ca(cas, tmp_path):
    out = io.StringIO()
    with pytest.raises(CommandError, match="may not issue"):
        call_command(
            "mqtt_broker_config",
            organization=cas.a.org.slug,
            actor=cas.b.user(Role.ADMIN).username,
            dir=str(tmp_path),
            stdout=out,
        )


def test_a_stale_pid_file_never_signals_another_process(tmp_path, settings):
    import os

    from devices.mqtt.broker import reload_broker

    settings.ENCOMPASS = {**settings.ENCOMPASS, "MQTT": {"DIR": str(tmp_path)}}
    (tmp_path / "mosquitto.pid").write_text(str(os.getpid()))  # this very pytest process
    assert reload_broker(tmp_path) is False  # and we are still here: no SIGHUP was sent
