import json

import pytest

from encompass.audit.models import AuditEntry
from encompass.exceptions import NotPermitted
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device_type
from risk.imports import ImportRejected, import_vulnerabilities
from risk.models import AffectedProduct, Vulnerability

GOOD = [
    {
        "identifier": "CVE-2026-40001",
        "title": "Auth bypass in gateway API",
        "cvss_vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "published_on": "2026-02-01",
        "references": ["https://example.test/advisory/1"],
        "affected": [
            {
                "manufacturer": "acme",
                "model": "gateway-9",
                "introduced_version": "2.0",
                "fixed_version": "2.4.0",
            }
        ],
    },
    {"identifier": "VND-2026-12", "title": "Weak TLS ciphers", "cvss_score": 5.3},
]


def test_json_feed_imports_and_reimport_changes_nothing(world, officer, gateway_type):
    report = import_vulnerabilities(
        world.a.org, json.dumps(GOOD).encode(), actor=officer, filename="feed.json"
    )
    assert sorted(report.created) == ["CVE-2026-40001", "VND-2026-12"]
    vuln = Vulnerability.objects.get(identifier="CVE-2026-40001")
    assert (str(vuln.cvss_score), vuln.severity) == ("9.8", "critical")
    assert AffectedProduct.objects.get(vulnerability=vuln).device_type == gateway_type
    assert AuditEntry.objects.filter(action="risk.vulnerability.import").count() == 1

    again = import_vulnerabilities(
        world.a.org, json.dumps(GOOD).encode(), actor=officer, filename="feed.json"
    )
    assert (again.created, again.updated, sorted(again.unchanged)) == (
        [],
        [],
        ["CVE-2026-40001", "VND-2026-12"],
    )
    changed = [dict(GOOD[1], cvss_score=7.5)]
    assert import_vulnerabilities(world.a.org, json.dumps(changed), actor=officer).updated == [
        "VND-2026-12"
    ]
    assert Vulnerability.objects.get(identifier="VND-2026-12").severity == "high"


def test_csv_feed_groups_rows_by_identifier(world, officer, gateway_type):
    cam = make_device_type(world.a.org, manufacturer="Acme", model="Cam-2", hardware_revision="B")
    csv_text = (
        "identifier,title,cvss_score,manufacturer,model,hardware_revision,introduced_version,fixed_version\n"
        "CVE-2026-40002,Shared lib flaw,7.5,Acme,Gateway-9,,1.0,2.0\n"
        "CVE-2026-40002,Shared lib flaw,7.5,Acme,Cam-2,B,,3.1\n"
    )
    report = import_vulnerabilities(world.a.org, csv_text.encode(), actor=officer, filename="f.csv")
    assert report.created == ["CVE-2026-40002"]
    types = set(AffectedProduct.objects.values_list("device_type", flat=True))
    assert types == {gateway_type.pk, cam.pk}


def test_bad_rows_are_all_reported_and_nothing_is_imported(world, officer, gateway_type):
    csv_text = (
        "identifier,title,cvss_score,cvss_vector,published_on,manufacturer,model,introduced_version\n"
        "CVE-2026-40003,Fine,5.0,,,Acme,Gateway-9,1.0\n"
        "not-an-id,Bad id,5.0,,,,,\n"
        "CVE-2026-40004,Bad score,11,,,,,\n"
        "CVE-2026-40005,Bad vector,,CVSS:3.1/AV:N,,,,\n"
        "CVE-2026-40006,Bad date,5.0,,31/12/2026,,,\n"
        "CVE-2026-40007,Unknown type,5.0,,,Other,Thing,\n"
        "CVE-2026-40003,Fine,5.0,,,Acme,Gateway-9,banana\n"
    )
    with pytest.raises(ImportRejected) as exc:
        import_vulnerabilities(world.a.org, csv_text.encode(), actor=officer, filename="f.csv")
    found = {(e.row, e.field) for e in exc.value.errors}
    assert {
        ("line 3", "identifier"),
        ("line 4", "cvss_score"),
        ("line 5", "cvss_vector"),
        ("line 6", "published_on"),
        ("line 7", "model"),
    } <= found
    assert any(e.field.endswith("introduced_version") for e in exc.value.errors)
    assert not Vulnerability.objects.exists()
    assert not AuditEntry.objects.filter(action__startswith="risk.vulnerability").exists()


def test_json_structure_errors(world, officer):
    for content, field in (
        (b"{not json", "file"),
        (b'{"items": []}', "file"),
        (
            json.dumps(
                [{"identifier": "CVE-2026-1234", "title": "x", "cvss_score": 1, "colour": "red"}]
            ),
            "colour",
        ),
        (json.dumps([GOOD[1], GOOD[1]]), "identifier"),
        ("\xff".encode("latin-1"), "file"),
    ):
        with pytest.raises(ImportRejected) as exc:
            import_vulnerabilities(world.a.org, content, actor=officer, filename="x.json")
        assert field in {e.field for e in exc.value.errors}, exc.value.errors
    assert not Vulnerability.objects.exists()


def test_unknown_device_types_can_be_skipped_with_a_warning(world, officer):
    data = [dict(GOOD[0], affected=[{"manufacturer": "Nobody", "model": "X"}])]
    report = import_vulnerabilities(
        world.a.org, json.dumps(data), actor=officer, ignore_unknown_device_types=True
    )
    assert report.created == ["CVE-2026-40001"] and "Nobody X" in report.warnings[0]


def test_import_needs_permission(world):
    with pytest.raises(NotPermitted):
        import_vulnerabilities(world.a.org, json.dumps(GOOD), actor=world.a.user(Role.OPERATOR))
