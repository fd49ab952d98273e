from decimal import Decimal

import pytest

from devices.choices import LifecycleState
from devices.models import Device
from encompass.exceptions import NotPermitted, ValidationError
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device, make_device_type
from risk import services
from risk.models import Vulnerability


def pks(devices):
    return {d.pk for d in devices}


def test_score_and_severity_are_derived_from_the_vector(vuln):
    assert vuln.cvss_score == Decimal("9.8")
    assert vuln.severity == "critical"


def test_affected_devices_follow_firmware_live(fleet, vuln):
    assert pks(services.affected_devices(vuln, include_unverified=False)) == {fleet["mid"].pk}

    # The old gateway is upgraded into the vulnerable range; the mid one out of it.
    Device.objects.filter(pk=fleet["old"].pk).update(firmware_version="2.1.0")
    Device.objects.filter(pk=fleet["mid"].pk).update(firmware_version="2.4.0")
    assert pks(services.affected_devices(vuln, include_unverified=False)) == {fleet["old"].pk}
    assert [
        v.pk for v in services.vulnerabilities_affecting(Device.objects.get(pk=fleet["old"].pk))
    ] == [vuln.pk]
    assert services.vulnerabilities_affecting(Device.objects.get(pk=fleet["mid"].pk)) == []


def test_unparseable_firmware_is_counted_as_unverified(fleet, vuln):
    found = {d.pk: d.firmware_unverified for d in services.affected_devices(vuln)}
    assert found == {fleet["mid"].pk: False, fleet["odd"].pk: True}
    counts = services.exposure_counts([vuln])[vuln.pk]
    assert (counts.affected, counts.unverified) == (2, 1)
    hit = services.vulnerabilities_affecting(fleet["odd"])
    assert [v.firmware_unverified for v in hit] == [True]
    assert services.vulnerabilities_affecting(fleet["odd"], include_unverified=False) == []


def test_retired_devices_and_other_types_are_not_affected(world, fleet, vuln):
    Device.objects.filter(pk=fleet["mid"].pk).update(state=LifecycleState.DECOMMISSIONED)
    other = make_device(world.a.org, firmware_version="2.1.0", state=LifecycleState.DEPLOYED)
    assert pks(services.affected_devices(vuln)) == {fleet["odd"].pk}
    assert services.vulnerabilities_affecting(other) == []
    assert services.vulnerabilities_affecting(Device.objects.get(pk=fleet["mid"].pk)) == []


def test_unbounded_range_affects_every_version_and_not_affected_status_is_ignored(
    world, officer, fleet, gateway_type
):
    v = services.create_vulnerability(
        actor=officer,
        organization=world.a.org,
        identifier="VND-2026-7",
        title="Debug UART open",
        cvss_score=Decimal("6.8"),
        affected=[{"device_type": gateway_type}],
    )
    assert pks(services.affected_devices(v)) == pks(fleet.values())
    services.update_vulnerability(v, actor=officer, status="not_affected")
    assert v.pk not in {x.pk for x in services.vulnerabilities_affecting(fleet["new"])}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"identifier": "cve-2026-1"}, "identifier"),
        ({"cvss_score": Decimal("10.5")}, "cvss_score"),
        (
            {
                "cvss_score": Decimal("5.0"),
                "cvss_vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            },
            "cvss_score",
        ),
        ({"cvss_vector": "CVSS:3.1/AV:N"}, "cvss_vector"),
        ({"cvss_score": None}, "cvss_score"),
        ({"references": ["ftp://x"]}, "references"),
    ],
)
def test_invalid_vulnerabilities_name_the_field(world, officer, fields, field):
    data = {"identifier": "CVE-2026-20000", "title": "Bad", "cvss_score": Decimal("5.0"), **fields}
    with pytest.raises(ValidationError) as exc:
        services.create_vulnerability(actor=officer, organization=world.a.org, **data)
    assert field in exc.value.message_dict
    assert not Vulnerability.objects.exists()


def test_range_must_be_ordered_and_parseable(world, officer, gateway_type):
    with pytest.raises(ValidationError) as exc:
        services.create_vulnerability(
            actor=officer,
            organization=world.a.org,
            identifier="CVE-2026-20001",
            title="x",
            cvss_score=Decimal("5.0"),
            affected=[
                {"device_type": gateway_type, "introduced_version": "3.0", "fixed_version": "2.0"},
                {"device_type": gateway_type, "introduced_version": "banana"},
            ],
        )
    assert set(exc.value.message_dict) == {
        "affected[0].fixed_version",
        "affected[1].introduced_version",
    }


def test_identifier_unique_per_organization_not_globally(world, officer, vuln):
    with pytest.raises(ValidationError):
        services.create_vulnerability(
            actor=officer,
            organization=world.a.org,
            identifier=vuln.identifier,
            title="dup",
            cvss_score=1,
        )
    services.create_vulnerability(
        actor=world.b.user(Role.SECURITY_OFFICER),
        organization=world.b.org,
        identifier=vuln.identifier,
        title="theirs",
        cvss_score=1,
    )


def test_device_type_of_another_tenant_is_refused(world, officer):
    theirs = make_device_type(world.b.org)
    with pytest.raises(ValidationError) as exc:
        services.create_vulnerability(
            actor=officer,
            organization=world.a.org,
            identifier="CVE-2026-20002",
            title="x",
            cvss_score=1,
            affected=[{"device_type": theirs}],
        )
    assert "affected" in exc.value.message_dict


def test_operators_cannot_record_vulnerabilities(world):
    with pytest.raises(NotPermitted):
        services.create_vulnerability(
            actor=world.a.user(Role.OPERATOR),
            organization=world.a.org,
            identifier="CVE-2026-20003",
            title="x",
            cvss_score=1,
        )
