"""CSV import: all or nothing, every bad row reported with its line number and column."""

import pytest
from django.urls import reverse

from devices.imports import import_devices
from devices.models import Device, Tag
from encompass.audit.models import AuditEntry
from encompass.exceptions import NotPermitted
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device_type

pytestmark = pytest.mark.django_db

HEADER = "serial_number,name,device_type,site,tags,owner,criticality,network_address,commissioned_on,warranty_until,location_notes\n"


@pytest.fixture
def meter(world):
    return make_device_type(
        world.a.org, manufacturer="Kamstrup", model="flowIQ", hardware_revision="B"
    )


def good_csv(world):
    return HEADER + (
        "KM-1,Meter 1,Kamstrup/flowIQ,a-site-1,pilot;basement,a-operator,high,10.0.0.5,2026-01-02,2029-01-01,Pit 4\n"
        'KM-2,"Meter 2, roof",Kamstrup/flowIQ/B,a-site-2,pilot,,low,,,,\n'
        "KM-3,Meter 3,{id},,,,,fd00::1,,,\n"
    )


def test_good_file_imports_every_row_and_audits(world, meter):
    operator = world.a.user(Role.OPERATOR)
    report = import_devices(
        good_csv(world).format(id=meter.pk),
        organization=world.a.org,
        actor=operator,
        filename="batch.csv",
    )
    assert report.ok, [str(e) for e in report.errors]
    assert [d.serial_number for d in report.created] == ["KM-1", "KM-2", "KM-3"]
    one = Device.objects.get(serial_number="KM-1")
    assert (one.site, one.owner, one.criticality, one.network_address) == (
        world.a.sites[0],
        operator,
        "high",
        "10.0.0.5",
    )
    assert sorted(one.tags.values_list("name", flat=True)) == ["basement", "pilot"]
    assert Device.objects.get(serial_number="KM-2").name == "Meter 2, roof"
    assert Tag.objects.filter(organization=world.a.org, name="pilot").count() == 1
    assert AuditEntry.objects.filter(action="devices.device.import").count() == 1
    assert AuditEntry.objects.filter(action="devices.device.create").count() == 3


def test_dry_run_writes_nothing(world, meter):
    report = import_devices(
        good_csv(world).format(id=meter.pk),
        organization=world.a.org,
        actor=world.a.user(Role.ADMIN),
        dry_run=True,
    )
    assert report.ok and report.rows == 3 and not report.created
    assert not Device.objects.exists()


def test_bad_file_imports_nothing_and_reports_every_bad_row(world, meter):
    make_device_type(world.a.org, manufacturer="Kamstrup", model="flowIQ", hardware_revision="C")
    text = (
        HEADER
        + (
            "KM-1,Meter 1,Kamstrup/flowIQ/B,a-site-1,,,,,,,\n"  # 2: fine
            ",Nameless,Kamstrup/flowIQ/B,,,,,,,,\n"  # 3: serial missing
            "KM-3,Meter 3,Kamstrup/flowIQ,,,,,,,,\n"  # 4: ambiguous revision
            "KM-4,Meter 4,Kamstrup/flowIQ/B,b-site-1,,,,,,,\n"  # 5: other tenant's site
            "KM-5,Meter 5,Kamstrup/flowIQ/B,,Bad Tag!,nobody,extreme,300.1.1.1,2026-13-01,,\n"  # 6: many
            "KM-1,Meter 1 again,Kamstrup/flowIQ/B,,,,,,,,\n"  # 7: duplicate of line 2
        )
    )
    report = import_devices(text, organization=world.a.org, actor=world.a.user(Role.ADMIN))
    assert not report.ok and not report.created
    found = {(e.line, e.field) for e in report.errors}
    assert found == {
        (3, "serial_number"),
        (4, "device_type"),
        (5, "site"),
        (6, "tags"),
        (6, "owner"),
        (6, "criticality"),
        (6, "network_address"),
        (6, "commissioned_on"),
        (7, "serial_number"),
    }
    assert "line 2" in next(e.message for e in report.errors if e.line == 7)
    assert "b-site-1" in next(e.message for e in report.errors if e.line == 5)
    assert not Device.objects.exists() and not Tag.objects.exists()
    assert not AuditEntry.objects.filter(action="devices.device.import").exists()


def test_header_problems(world, meter):
    report = import_devices(
        "serial,name\nx,y\n", organization=world.a.org, actor=world.a.user(Role.ADMIN)
    )
    assert {(e.line, e.field) for e in report.errors} == {(1, "header")}
    assert "serial" in report.errors[0].message
    assert not import_devices("", organization=world.a.org, actor=world.a.user(Role.ADMIN)).ok
    assert not import_devices(
        b"\xff\xfe", organization=world.a.org, actor=world.a.user(Role.ADMIN)
    ).ok


def test_existing_serial_refused(world, meter):
    actor = world.a.user(Role.ADMIN)
    import_devices(
        HEADER + "KM-1,M,Kamstrup/flowIQ,,,,,,,,\n", organization=world.a.org, actor=actor
    )
    report = import_devices(
        HEADER + "KM-1,M,Kamstrup/flowIQ,,,,,,,,\n", organization=world.a.org, actor=actor
    )
    assert [(e.line, e.field) for e in report.errors] == [(2, "serial_number")]


def test_permissions(world, meter):
    text = HEADER + "KM-1,M,Kamstrup/flowIQ,a-site-1,,,,,,,\n"
    report = import_devices(text, organization=world.a.org, actor=world.a.user(Role.TECHNICIAN))
    assert [(e.line, e.field) for e in report.errors] == [(2, "site")]
    with pytest.raises(NotPermitted):
        import_devices(text, organization=world.a.org, actor=world.b.user(Role.ADMIN))
    assert not Device.objects.exists()


def test_api_import_multipart_and_csv_body(world, meter, api):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = api(world.a.user(Role.OPERATOR))
    url = reverse("device-import-csv")
    body = (HEADER + "KM-1,M,Kamstrup/flowIQ,a-site-1,,,,,,,\n").encode()
    dry = client.post(f"{url}?dry_run=1", body, content_type="text/csv")
    assert dry.status_code == 200 and dry.json()["rows"] == 1 and not Device.objects.exists()
    done = client.post(
        url, {"file": SimpleUploadedFile("d.csv", body, "text/csv")}, format="multipart"
    )
    assert done.status_code == 201, done.content
    assert done.json()["created"][0]["serial_number"] == "KM-1"
    bad = client.post(url, body, content_type="text/csv")  # the same serial again
    assert bad.status_code == 400
    assert bad.json()["errors"] == [
        {
            "line": 2,
            "field": "serial_number",
            "message": "Kamstrup serial KM-1 is already registered.",
        }
    ]
    assert client.post(url, b"", content_type="text/csv").status_code == 400


def test_import_command(world, meter, tmp_path):
    from django.core.management import CommandError, call_command

    path = tmp_path / "fleet.csv"
    path.write_text(HEADER + "KM-9,Cmd,Kamstrup/flowIQ,a-site-1,,,,,,,\n")
    args = [str(path), "--organization", world.a.org.slug, "--as", "a-operator"]
    call_command("import_devices", *args, "--dry-run")
    assert not Device.objects.exists()
    call_command("import_devices", *args)
    assert Device.objects.get().serial_number == "KM-9"
    with pytest.raises(CommandError, match="Nothing imported: 1 problem"):
        call_command("import_devices", *args)
