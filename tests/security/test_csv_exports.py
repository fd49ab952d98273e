"""CSV injection: every CSV export writes formula cells as text, through one shared writer.

A device named ``=cmd|' /C calc'!A0`` reaches the audit trail's ``object_repr``; a risk titled
``+SUM(1)`` reaches the register export; opened in a spreadsheet either would run. Every export
goes through ``encompass.spreadsheet``, which prefixes such cells with an apostrophe -- and no
module writes CSV any other way (the last test fails when a new export forgets).
"""

import csv
import io
import re
from pathlib import Path

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from compliance.choices import ReportKind
from compliance.services.reports import COLUMNS, render_report
from devices.models import Device
from encompass import spreadsheet
from encompass.tenancy import crud
from encompass.tenancy.roles import Role
from encompass.testing.factories import make_device_type
from encompass.testing.web import web
from risk import services as risk_services

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
PAYLOADS = [
    "=cmd|' /C calc'!A0",
    "+SUM(1+1)",
    "-2+3",
    "@SUM(A1)",
    "\t=1",
    "\r=1",
    "\uff1d1+1",  # full-width equals sign
]


def _cells(text):
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def _assert_neutralised(text, payloads=PAYLOADS):
    cells = _cells(text)
    for payload in payloads:
        assert payload not in cells, f"{payload!r} was written raw"
        assert "'" + payload in cells, f"{payload!r} is missing from the export"


@pytest.mark.parametrize(
    ("value", "written"),
    [("=1", "'=1"), ("plain", "plain"), ("", ""), (-5, -5), (None, None), ("a=b", "a=b")],
)
def test_safe_cell(value, written):
    assert spreadsheet.safe_cell(value) == written


def test_audit_export_neutralises_formulas(world):
    admin = world.a.user(Role.ADMIN)
    device_type = make_device_type(world.a.org)
    for n, name in enumerate(PAYLOADS):
        crud.create_object(
            Device,
            {
                "organization": world.a.org,
                "device_type": device_type,
                "serial_number": f"CSV-{n}",
                "name": name,
            },
            actor=admin,
        )
    api = APIClient()
    api.force_authenticate(world.a.user(Role.AUDITOR))
    response = api.get(
        "/api/v1/audit-entries/export/", {"organization": world.a.org.pk, "as": "csv"}
    )
    assert response.status_code == 200, response.content
    _assert_neutralised(response.content.decode())


def _risks(world):
    officer = world.a.user(Role.SECURITY_OFFICER)
    for payload in PAYLOADS:
        risk_services.create_risk(
            actor=officer,
            organization=world.a.org,
            title=payload,
            scenario="s",
            likelihood=2,
            impact=2,
        )


def test_risk_api_export_neutralises_formulas(world):
    _risks(world)
    api = APIClient()
    api.force_authenticate(world.a.user(Role.AUDITOR))
    response = api.get(reverse("risk-export"))
    assert response.status_code == 200
    _assert_neutralised(response.content.decode())


def test_risk_web_export_neutralises_formulas(world):
    _risks(world)
    response = web(world.a.user(Role.AUDITOR)).get(reverse("risk_ui:export_csv"))
    assert response.status_code == 200
    _assert_neutralised(response.content.decode())


def test_compliance_report_csv_neutralises_formulas():
    columns = COLUMNS[ReportKind.ASSESSMENT]
    rows = [{column: payload for column in columns} for payload in PAYLOADS]
    body, _rows = render_report(None, ReportKind.ASSESSMENT, "csv", rows=rows)
    _assert_neutralised(body)


def test_no_module_writes_csv_but_the_shared_writer():
    pattern = re.compile(r"\bcsv\.(writer|DictWriter)\(")
    offenders = []
    for package in ("encompass", "devices", "compliance", "incidents", "risk"):
        for path in (ROOT / package).rglob("*.py"):
            if path.name == "spreadsheet.py" and path.parent.name == "encompass":
                continue
            if pattern.search(path.read_text()):
                offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, f"write CSV with encompass.spreadsheet.writer, not csv: {offenders}"
