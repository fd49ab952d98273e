import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from encompass.audit.models import AuditEntry
from encompass.tenancy.roles import Role
from encompass.testing.web import web
from risk import services
from risk.models import Risk


@pytest.fixture
def register(world, make_risk, officer):
    critical = make_risk(title="Gateway takeover", likelihood=5, impact=5)
    services.assess_residual(critical, actor=officer, likelihood=3, impact=4)
    services.create_mitigation(
        critical,
        actor=officer,
        title="Patch gateways",
        due_on=datetime.date.today() - datetime.timedelta(days=3),
    )
    low = make_risk(title="Jamming", likelihood=1, impact=2)
    make_risk(world.b, title="B secret")
    return {"critical": critical, "low": low}


def test_register_lists_own_org_and_filters(world, register):
    client = web(world.a.user(Role.AUDITOR))
    page = client.get(reverse("risk_ui:register")).content.decode()
    assert "Gateway takeover" in page and "Jamming" in page and "B secret" not in page
    page = client.get(reverse("risk_ui:register"), {"level": "high"}).content.decode()
    assert "Gateway takeover" in page and "Jamming" not in page
    page = client.get(reverse("risk_ui:register"), {"overdue": "true"}).content.decode()
    assert "Gateway takeover" in page and "Jamming" not in page
    assert "New risk" not in page  # auditors do not add risks


def test_heatmap_counts_and_cell_links(world, register):
    client = web(world.a.user(Role.OPERATOR))
    response = client.get(reverse("risk_ui:heatmap"))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-likelihood="5" data-impact="5" data-count="1"' in html
    assert 'data-likelihood="3" data-impact="4" data-count="1"' in html  # residual
    assert "1 not yet assessed" in html
    cell = client.get(
        reverse("risk_ui:register") + "?inherent_likelihood=5&inherent_impact=5&active=true"
    )
    assert "Gateway takeover" in cell.content.decode() and "Jamming" not in cell.content.decode()


def test_other_tenants_risk_is_not_found(world, register, make_risk):
    theirs = Risk.objects.get(title="B secret")
    client = web(world.a.user(Role.ADMIN))
    assert client.get(reverse("risk_ui:risk", args=[theirs.pk])).status_code == 404
    assert (
        client.post(
            reverse("risk_ui:risk_action", args=[theirs.pk, "close"]), {"reason": "x"}
        ).status_code
        == 404
    )


def test_detail_forms_call_the_services(world, register, officer):
    risk = register["low"]
    client = web(officer)
    assert client.get(reverse("risk_ui:risk", args=[risk.pk])).status_code == 200
    response = client.post(
        reverse("risk_ui:risk_action", args=[risk.pk, "residual"]), {"likelihood": 2, "impact": 1}
    )
    assert response.status_code == 400 and "cannot exceed" in response.content.decode()
    response = client.post(
        reverse("risk_ui:risk_action", args=[risk.pk, "residual"]),
        {"likelihood": 1, "impact": 1, "current_controls": "Fallback radio"},
    )
    assert response.status_code == 302
    risk.refresh_from_db()
    assert (risk.residual_level, risk.current_controls) == ("low", "Fallback radio")
    response = client.post(
        reverse("risk_ui:risk_action", args=[risk.pk, "mitigation"]),
        {"title": "Add LTE fallback", "requirement_refs": "nist-csf:ZZ.99"},
    )
    assert response.status_code == 400 and "no assessable requirement" in response.content.decode()
    operator = web(world.a.user(Role.OPERATOR))
    response = operator.post(
        reverse("risk_ui:risk_action", args=[risk.pk, "close"]), {"reason": "x"}
    )
    assert response.status_code == 302
    risk.refresh_from_db()
    assert risk.status == "open"  # refused: operators cannot close risks


def test_create_and_accept_through_the_ui(world, officer):
    client = web(officer)
    response = client.post(
        reverse("risk_ui:risk_new"),
        {
            "title": "Camera botnet",
            "scenario": "Default passwords on cameras",
            "inherent_likelihood": 4,
            "inherent_impact": 2,
            "treatment": "accept",
        },
    )
    risk = Risk.objects.get(title="Camera botnet")
    assert response.status_code == 302 and risk.inherent_level == "medium"
    until = (datetime.date.today() + datetime.timedelta(days=60)).isoformat()
    client.post(
        reverse("risk_ui:risk_action", args=[risk.pk, "accept"]),
        {"justification": "Isolated VLAN", "expires_at": until},
    )
    risk.refresh_from_db()
    assert risk.status == "accepted" and risk.accepted_by == officer


def test_vulnerability_pages_and_import(world, officer, fleet, vuln):
    client = web(world.a.user(Role.AUDITOR))
    html = client.get(reverse("risk_ui:vulnerabilities")).content.decode()
    assert "CVE-2026-10001" in html and "1 unverified firmware" in html
    html = client.get(reverse("risk_ui:vulnerability", args=[vuln.pk])).content.decode()
    assert fleet["mid"].name in html and fleet["new"].name not in html
    officer_client = web(officer)
    bad = SimpleUploadedFile("feed.csv", b"identifier,title,cvss_score\nCVE-2026-1,x,99\n")
    response = officer_client.post(reverse("risk_ui:vulnerability_import"), {"file": bad})
    assert response.status_code == 400 and "line 2" in response.content.decode()
    good = SimpleUploadedFile("feed.csv", b"identifier,title,cvss_score\nCVE-2026-11111,x,9.1\n")
    response = officer_client.post(reverse("risk_ui:vulnerability_import"), {"file": good})
    assert response.status_code == 200 and "CVE-2026-11111" in response.content.decode()


def test_exports_are_audited(world, register):
    client = web(world.a.user(Role.AUDITOR))
    response = client.get(reverse("risk_ui:export_csv"), {"level": "high"})
    assert response.status_code == 200
    text = response.content.decode()
    assert "Gateway takeover" in text and "Jamming" not in text and "B secret" not in text
    report = client.get(reverse("risk_ui:report"))
    assert report.status_code == 200 and "@media print" not in report.content.decode()
    assert "Patch gateways" in report.content.decode()
    formats = set(
        AuditEntry.objects.filter(action="risk.register.export").values_list(
            "changes__format", flat=True
        )
    )
    assert formats == {"csv", "report"}


def test_register_query_count_is_flat(world, make_risk, django_assert_max_num_queries):
    client = web(world.a.user(Role.AUDITOR))
    make_risk()
    client.get(reverse("risk_ui:register"))
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        client.get(reverse("risk_ui:register"))
    for _ in range(8):
        make_risk()
    with django_assert_max_num_queries(len(ctx.captured_queries)):
        client.get(reverse("risk_ui:register"))
