"""Web UI pages: board, incident page, forms calling the services, report; tenant isolation."""

import pytest

from encompass.tenancy.roles import Role
from encompass.testing.web import web
from incidents.services import declare_incident

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_auditor(world):
    return web(world.a.user(Role.AUDITOR))


def test_board_and_detail_render_and_isolate(world, incident):
    theirs = declare_incident(
        organization=world.b.org, title="B secret", severity="low", actor=world.b.user(Role.ADMIN)
    )
    client = web(world.a.user(Role.OPERATOR))
    board = client.get("/incidents/")
    assert board.status_code == 200
    assert incident.title.encode() in board.content and b"B secret" not in board.content
    assert b"DE.CM" in board.content
    assert client.get(f"/incidents/{incident.pk}/").status_code == 200
    assert client.get(f"/incidents/{theirs.pk}/").status_code == 404
    assert client.get(f"/incidents/{incident.pk}/report/").status_code == 200


def test_forms_call_services_and_report_refusals(world, incident):
    officer = web(world.a.user(Role.SECURITY_OFFICER))
    response = officer.post(f"/incidents/{incident.pk}/phase/", {"to": "analysis"}, follow=True)
    assert b"is now in analysis" in response.content
    response = officer.post(f"/incidents/{incident.pk}/phase/", {"to": "closed"}, follow=True)
    assert b"Allowed next phases" in response.content
    incident.refresh_from_db()
    assert incident.phase == "analysis"
    operator = web(world.a.user(Role.OPERATOR))
    response = operator.post(f"/incidents/{incident.pk}/phase/", {"to": "containment"}, follow=True)
    assert b"may not" in response.content
    operator.post(f"/incidents/{incident.pk}/note/", {"text": "Gateway logs pulled"})
    assert incident.timeline.filter(kind="note", text="Gateway logs pulled").exists()


def test_declare_from_the_board(world):
    officer = web(world.a.user(Role.SECURITY_OFFICER))
    response = officer.post("/incidents/declare/", {"title": "", "severity": "high"}, follow=True)
    assert b"title" in response.content
    response = officer.post(
        "/incidents/declare/",
        {"title": "Door forced", "severity": "high", "category": "physical_tampering"},
    )
    assert response.status_code == 302


def test_board_query_count_does_not_grow(world, officer, django_assert_max_num_queries):
    for i in range(10):
        declare_incident(organization=world.a.org, title=f"i{i}", severity="low", actor=officer)
    client = web(officer)
    with django_assert_max_num_queries(30):
        assert client.get("/incidents/").status_code == 200
