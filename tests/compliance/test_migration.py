"""A new catalogue version loaded beside the old one; assessments migrated with a report; the
scorecard and the API say which version and verification date a score stands on."""

import json

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from compliance.choices import Result
from compliance.models import Assessment, Evidence, Framework, Requirement
from compliance.services.assessments import create_assessment, set_result
from compliance.services.loading import DATA_DIR, load_catalogue
from compliance.services.migration import migrate_assessment
from encompass.audit.models import AuditEntry
from encompass.exceptions import NotPermitted, ValidationError
from encompass.tenancy.roles import Role
from encompass.testing.web import web


def _v3_file(tmp_path):
    """An ETSI edition shaped like V3.x: 5.13-1 split in two, 5.12-3 gone, a new 5.0 clause,
    5.1-3 reworded and 5.6-9 made mandatory."""
    data = json.loads((DATA_DIR / "etsi-en-303-645.json").read_text())
    data.update(version="3.1.3", data_revision=1)
    for key in ("verified_on", "verification"):
        data.pop(key)
    reqs = []
    for r in data["requirements"]:
        if r["ref"] == "5.12-3":
            continue
        if r["ref"] == "5.1-3":
            r["title"] = "Authentication uses best-practice cryptography (reworded)"
        if r["ref"] == "5.6-9":
            r["obligation"] = "mandatory"
        if r["ref"] == "5.13-1":
            for suffix, what in (("A", "user interfaces"), ("B", "network interfaces")):
                reqs.append(
                    {**r, "ref": f"5.13-1{suffix}", "title": f"Input via {what} validated",
                     "supersedes": ["5.13-1"]}
                )  # fmt: skip
            continue
        reqs.append(r)
        if r["ref"] == "5":
            reqs.append({"ref": "5.0", "title": "Reporting implementation", "parent": "5",
                         "assessable": False, "order": 0})  # fmt: skip
            reqs.append({"ref": "5.0-1", "title": "Implementation decisions recorded",
                         "parent": "5.0", "assessable": True, "order": 0,
                         "obligation": "mandatory", "conditional": False, "condition": "",
                         "guidance": "A record of each decision."})  # fmt: skip
    for i, r in enumerate(reqs, start=1):
        r["order"] = i
    data["requirements"] = reqs
    path = tmp_path / "etsi-v3.json"
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def old_assessment(world, frameworks):
    officer = world.a.user(Role.SECURITY_OFFICER)
    a = create_assessment(
        world.a.org, framework=frameworks["etsi-en-303-645"], name="ETSI 2026", actor=officer
    )
    rows = {r.requirement.ref: r for r in a.results.select_related("requirement")}
    set_result(rows["5.13-1"], actor=officer, result_value=Result.COMPLIANT, notes="fuzzed")
    set_result(rows["5.12-3"], actor=officer, result_value=Result.NON_COMPLIANT)
    set_result(rows["5.1-3"], actor=officer, result_value=Result.PARTIALLY_COMPLIANT)
    set_result(rows["5.2-1"], actor=officer, result_value=Result.COMPLIANT, notes="policy v2")
    ev = Evidence.objects.create(
        organization=world.a.org, kind="link", title="VDP", url="https://example.com/vdp"
    )
    ev.requirements.add(rows["5.2-1"].requirement)
    return a


def test_new_version_loads_beside_the_old_one(frameworks, tmp_path):
    old = frameworks["etsi-en-303-645"]
    report = load_catalogue([_v3_file(tmp_path)])
    assert report.created == ["etsi-en-303-645 3.1.3 r1"]
    new = Framework.objects.get(code="etsi-en-303-645", version="3.1.3")
    assert new.pk != old.pk
    assert Requirement.objects.filter(framework=old, assessable=True).count() == 67
    assert Requirement.objects.get(framework=new, ref="5.13-1B").supersedes == ["5.13-1"]
    assert new.verified_on is None  # a file from elsewhere need not claim a verification


def test_migration_carries_results_and_reports_what_changed(world, old_assessment, tmp_path):
    load_catalogue([_v3_file(tmp_path)])
    new_fw = Framework.objects.get(code="etsi-en-303-645", version="3.1.3")
    officer = world.a.user(Role.SECURITY_OFFICER)
    before = list(old_assessment.results.values_list("requirement__ref", "result"))

    dry = migrate_assessment(old_assessment, new_fw, actor=officer, dry_run=True)
    assert Assessment.objects.filter(framework=new_fw).count() == 0  # nothing written

    report = migrate_assessment(old_assessment, new_fw, actor=officer)
    assert report.as_dict()["added"] == dry.as_dict()["added"] == ["5.0-1"]
    assert [c["ref"] for c in report.dropped] == ["5.12-3"]
    assert report.dropped[0]["result"] == Result.NON_COMPLIANT
    assert {c["ref"]: c["from"] for c in report.superseded} == {
        "5.13-1A": ["5.13-1"],
        "5.13-1B": ["5.13-1"],
    }
    changed = {c["ref"]: c["fields"] for c in report.changed}
    assert set(changed) == {"5.1-3", "5.6-9"}
    assert changed["5.6-9"]["obligation"] == ["recommended", "mandatory"]
    assert len(report.carried) == 67 - 1 - 1 - 2  # less 5.12-3, 5.13-1 and the two changed
    assert report.evidence_linked == 1

    new = Assessment.objects.get(pk=report.new_assessment_id)
    assert new.framework == new_fw and new.organization == world.a.org
    results = {r.requirement.ref: r for r in new.results.select_related("requirement")}
    assert results["5.13-1A"].result == results["5.13-1B"].result == Result.COMPLIANT
    assert "Carried from 5.13-1 of 2.1.1" in results["5.13-1A"].notes
    assert results["5.2-1"].result == Result.COMPLIANT and results["5.2-1"].notes == "policy v2"
    assert results["5.1-3"].result == Result.PARTIALLY_COMPLIANT
    assert results["5.0-1"].result == Result.NOT_ASSESSED
    assert "5.12-3" not in results
    assert Evidence.objects.get(title="VDP").requirements.filter(framework=new_fw).count() == 1
    # The old assessment is untouched: nothing is lost.
    assert list(old_assessment.results.values_list("requirement__ref", "result")) == before
    entry = AuditEntry.objects.get(action="compliance.assessment.migrate")
    assert entry.changes["dropped"] == ["5.12-3"] and entry.changes["added"] == ["5.0-1"]

    with pytest.raises(ValidationError):  # the successor's name is taken now
        migrate_assessment(old_assessment, new_fw, actor=officer)


def test_disagreeing_predecessors_are_left_to_a_person(world, frameworks, tmp_path):
    data = json.loads(_v3_file(tmp_path).read_text())
    for r in data["requirements"]:
        if r["ref"] == "5.13-1A":
            r["supersedes"] = ["5.13-1", "5.12-3"]
    path = tmp_path / "merged.json"
    path.write_text(json.dumps(data))
    load_catalogue([path])
    officer = world.a.user(Role.SECURITY_OFFICER)
    a = create_assessment(
        world.a.org, framework=frameworks["etsi-en-303-645"], name="Split", actor=officer
    )
    rows = {r.requirement.ref: r for r in a.results.select_related("requirement")}
    set_result(rows["5.13-1"], actor=officer, result_value=Result.COMPLIANT)
    new_fw = Framework.objects.get(version="3.1.3")
    report = migrate_assessment(a, new_fw, actor=officer)
    new = Assessment.objects.get(pk=report.new_assessment_id)
    row = new.results.get(requirement__ref="5.13-1A")
    assert row.result == Result.NOT_ASSESSED and "results differ" in row.notes
    assert report.dropped == []  # 5.12-3 lives on in 5.13-1A


def test_migration_is_refused_to_other_frameworks_roles_and_tenants(
    world, old_assessment, frameworks, tmp_path
):
    load_catalogue([_v3_file(tmp_path)])
    new_fw = Framework.objects.get(code="etsi-en-303-645", version="3.1.3")
    with pytest.raises(ValidationError):
        migrate_assessment(
            old_assessment, frameworks["nist-csf"], actor=world.a.user(Role.SECURITY_OFFICER)
        )
    with pytest.raises(ValidationError):
        migrate_assessment(
            old_assessment,
            frameworks["etsi-en-303-645"],
            actor=world.a.user(Role.SECURITY_OFFICER),
        )
    for user in (world.a.user(Role.AUDITOR), world.b.user(Role.SECURITY_OFFICER)):
        with pytest.raises(NotPermitted):
            migrate_assessment(old_assessment, new_fw, actor=user)
    assert Assessment.objects.filter(framework=new_fw).count() == 0


def test_migrate_assessments_command(world, old_assessment, tmp_path, capsys):
    path = _v3_file(tmp_path)
    call_command("load_frameworks", str(path))
    with pytest.raises(CommandError):
        call_command("migrate_assessments", "etsi-en-303-645", "--to-version", "9.9")
    call_command("migrate_assessments", "etsi-en-303-645", "--to-version", "3.1.3", "--dry-run")
    out = capsys.readouterr().out
    assert "1 assessment(s) would be migrated" in out and "5.12-3 (non_compliant)" in out
    assert not Assessment.objects.filter(framework__version="3.1.3").exists()
    call_command("migrate_assessments", "etsi-en-303-645", "--to-version", "3.1.3", "--json")
    reports = json.loads(capsys.readouterr().out)
    assert reports[0]["added"] == ["5.0-1"] and reports[0]["new_assessment"]
    assert Assessment.objects.filter(framework__version="3.1.3").count() == 1


def test_scorecard_and_api_show_version_and_verification_date(world, old_assessment):
    auditor = world.a.user(Role.AUDITOR)
    client = web(auditor)
    page = client.get(reverse("compliance_ui:scorecard")).content.decode()
    assert "version 2.1.1" in page and "catalogue verified" in page and "2026-12-03" in page
    card = client.get(reverse("compliance_ui:scorecard_json")).json()["assessments"][0]
    assert card["framework"] == {
        "code": "etsi-en-303-645",
        "version": "2.1.1",
        "verified_on": "2026-12-03",
    }
    tree = client.get(reverse("compliance_ui:assessment", args=[old_assessment.pk]))
    assert b"version 2.1.1" in tree.content and b"verified 2026-12-03" in tree.content

    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(auditor)
    score = api.get(f"/api/v1/compliance/assessments/{old_assessment.pk}/score/").json()
    assert score["framework"]["version"] == "2.1.1"
    assert score["framework"]["verified_on"] == "2026-12-03"
    row = api.get(f"/api/v1/compliance/assessments/{old_assessment.pk}/").json()
    assert row["framework_version"] == "2.1.1" and row["framework_verified_on"] == "2026-12-03"
    fw = api.get(f"/api/v1/compliance/frameworks/{old_assessment.framework_id}/").json()
    assert fw["verified_on"] == "2026-12-03" and "Table B.1" in fw["verification"]


def test_reports_name_the_catalogue_verification(world, old_assessment):
    from compliance.services.reports import export_report

    body = export_report(
        old_assessment, actor=world.a.user(Role.AUDITOR), kind="assessment", fmt="json"
    )
    meta = json.loads(body)["meta"]
    assert meta["framework"] == "ETSI EN 303 645 2.1.1"
    assert meta["framework_verified_on"] == "2026-12-03"
    html = export_report(old_assessment, actor=world.a.user(Role.AUDITOR), kind="soa", fmt="html")
    assert "verified 2026-12-03" in (html.decode() if isinstance(html, bytes) else html)
