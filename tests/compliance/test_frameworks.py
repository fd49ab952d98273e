"""Loading the framework catalogues: every ETSI provision with its flag, counts, upgrades,
refusal of invalid files, mappings."""

import copy
import json

import pytest
from django.core.management import call_command

from compliance.choices import Obligation
from compliance.models import Framework, Requirement, RequirementMapping
from compliance.services.loading import DATA_DIR, FrameworkDataError, load_catalogue

# ETSI EN 303 645 V2.1.1 (2020-06): every provision of clauses 5 and 6 and whether it is
# mandatory (M) or recommended (R). Written from the standard's text ("shall" / "should"),
# independently of the data file it checks.
M, R = Obligation.MANDATORY, Obligation.RECOMMENDED
ETSI_V2_1_1 = {
    "5.1-1": M, "5.1-2": M, "5.1-3": M, "5.1-4": M, "5.1-5": M,
    "5.2-1": M, "5.2-2": R, "5.2-3": R,
    "5.3-1": R, "5.3-2": M, "5.3-3": M, "5.3-4": R, "5.3-5": R, "5.3-6": R, "5.3-7": M,
    "5.3-8": M, "5.3-9": R, "5.3-10": M, "5.3-11": R, "5.3-12": R, "5.3-13": M, "5.3-14": R,
    "5.3-15": R, "5.3-16": M,
    "5.4-1": M, "5.4-2": M, "5.4-3": M, "5.4-4": M,
    "5.5-1": M, "5.5-2": R, "5.5-3": R, "5.5-4": R, "5.5-5": M, "5.5-6": R, "5.5-7": M, "5.5-8": M,
    "5.6-1": M, "5.6-2": M, "5.6-3": R, "5.6-4": M, "5.6-5": R, "5.6-6": R, "5.6-7": R,
    "5.6-8": R, "5.6-9": R,
    "5.7-1": R, "5.7-2": R,
    "5.8-1": R, "5.8-2": M, "5.8-3": M,
    "5.9-1": R, "5.9-2": R, "5.9-3": R,
    "5.10-1": R,
    "5.11-1": M, "5.11-2": R, "5.11-3": R, "5.11-4": R,
    "5.12-1": R, "5.12-2": R, "5.12-3": R,
    "5.13-1": M,
    "6-1": M, "6-2": M, "6-3": M, "6-4": R, "6-5": M,
}  # fmt: skip


def test_every_etsi_provision_is_present_with_its_obligation(frameworks):
    etsi = frameworks["etsi-en-303-645"]
    stored = dict(
        Requirement.objects.filter(framework=etsi, assessable=True).values_list("ref", "obligation")
    )
    assert stored == ETSI_V2_1_1
    assert len(stored) == 67
    assert sum(1 for o in stored.values() if o == M) == 32
    # Every provision sits under its clause, and the clauses under 5 / 6.
    for req in Requirement.objects.filter(framework=etsi, assessable=True).select_related("parent"):
        assert req.parent.ref == req.ref.split("-")[0]


def test_etsi_conditional_provisions_state_their_condition(frameworks):
    etsi = frameworks["etsi-en-303-645"]
    for req in Requirement.objects.filter(framework=etsi, assessable=True):
        assert bool(req.condition.strip()) == req.conditional, req.ref


@pytest.mark.parametrize(
    ("code", "groups", "assessable"),
    [
        ("nist-csf", 28, 106),
        ("iso-27001-annex-a", 4, 93),
        ("iec-62443-4-2", 7, 83),
        ("etsi-en-303-645", 15, 67),
    ],
)
def test_counts_per_framework(frameworks, code, groups, assessable):
    fw = frameworks[code]
    assert Requirement.objects.filter(framework=fw, assessable=True).count() == assessable
    assert Requirement.objects.filter(framework=fw, assessable=False).count() == groups


def test_nist_functions_and_iec_foundational_requirements(frameworks):
    nist = frameworks["nist-csf"]
    tops = set(
        Requirement.objects.filter(framework=nist, parent__isnull=True).values_list(
            "ref", flat=True
        )
    )
    assert tops == {"GV", "ID", "PR", "DE", "RS", "RC"}
    iec = frameworks["iec-62443-4-2"]
    frs = set(
        Requirement.objects.filter(framework=iec, parent__isnull=True).values_list("ref", flat=True)
    )
    assert frs == {f"FR {i}" for i in range(1, 8)}
    enhancement = Requirement.objects.get(framework=iec, ref="CR 1.1 RE(2)")
    assert enhancement.parent.ref == "CR 1.1"
    assert enhancement.security_level >= enhancement.parent.security_level


def test_mappings_loaded_between_frameworks(frameworks):
    assert RequirementMapping.objects.count() == len(
        json.loads((DATA_DIR / "mappings.json").read_text())
    )
    m = RequirementMapping.objects.get(
        source__framework__code="etsi-en-303-645",
        source__ref="5.1-1",
        target__framework__code="iec-62443-4-2",
        target__ref="CR 1.5",
    )
    assert m.relation == "subset"


def test_reloading_the_same_revision_changes_nothing(frameworks):
    before = (Requirement.objects.count(), RequirementMapping.objects.count())
    report = load_catalogue()
    assert report.created == [] and report.upgraded == []
    assert len(report.unchanged) == len(list(DATA_DIR.glob("*.json"))) - 1  # less mappings
    assert (Requirement.objects.count(), RequirementMapping.objects.count()) == before


def _etsi_data():
    return json.loads((DATA_DIR / "etsi-en-303-645.json").read_text())


def test_newer_revision_upgrades_adds_and_withdraws_without_losing_results(
    frameworks, world, tmp_path
):
    from compliance.services.assessments import create_assessment

    etsi = frameworks["etsi-en-303-645"]
    assessment = create_assessment(
        world.a.org,
        framework=etsi,
        name="Review",
        actor=world.a.user("security_officer"),
    )
    data = _etsi_data()
    data["data_revision"] = etsi.data_revision + 1
    reqs = data["requirements"]
    reqs[:] = [r for r in reqs if r["ref"] != "5.12-3"]  # withdrawn in the new revision
    for r in reqs:
        if r["ref"] == "5.1-1":
            r["title"] = "Passwords unique per device (revised wording)"
    last = max(r["order"] for r in reqs)
    reqs.append(
        {
            "ref": "6-6",
            "title": "A new provision",
            "parent": "6",
            "assessable": True,
            "order": last + 1,
            "obligation": "recommended",
            "conditional": False,
            "condition": "",
            "guidance": "Shown by a document.",
        }
    )
    path = tmp_path / "etsi.json"
    path.write_text(json.dumps(data))
    report = load_catalogue([path])
    assert report.upgraded
    etsi.refresh_from_db()
    assert etsi.data_revision == data["data_revision"]
    assert Requirement.objects.get(framework=etsi, ref="5.1-1").title.endswith("(revised wording)")
    withdrawn = Requirement.objects.get(framework=etsi, ref="5.12-3")
    assert withdrawn.withdrawn_in_revision == data["data_revision"]
    assert assessment.results.filter(requirement=withdrawn).exists()  # nothing lost
    assert Requirement.objects.filter(framework=etsi, ref="6-6").exists()
    call_command("load_frameworks", str(path))  # same revision again: a no-op
    assert assessment.results.filter(requirement__ref="6-6").exists()  # synced by the command


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["requirements"].append(copy.deepcopy(d["requirements"][2])), "duplicate ref"),
        (lambda d: d["requirements"][2].update(obligation="optional"), "obligation"),
        (lambda d: d["requirements"][2].pop("title"), "missing field 'title'"),
        (lambda d: d["requirements"][2].update(parent="9.9"), "does not exist"),
        (lambda d: d.update(data_revision="two"), "data_revision"),
    ],
)
def test_invalid_file_is_refused_and_nothing_changes(frameworks, tmp_path, mutate, message):
    etsi = frameworks["etsi-en-303-645"]
    data = _etsi_data()
    data["data_revision"] = 99
    data["requirements"][3]["title"] = "Changed"
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    revision = etsi.data_revision
    snapshot = list(Requirement.objects.filter(framework=etsi).values_list("ref", "title"))
    with pytest.raises(FrameworkDataError) as exc:
        load_catalogue([path])
    assert any(message in p for p in exc.value.problems), exc.value.problems
    etsi.refresh_from_db()
    assert etsi.data_revision == revision
    assert list(Requirement.objects.filter(framework=etsi).values_list("ref", "title")) == snapshot


def test_unparseable_file_is_refused(frameworks, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(FrameworkDataError) as exc:
        load_catalogue([path])
    assert "invalid JSON" in exc.value.problems[0]
    assert Framework.objects.count() == len(list(DATA_DIR.glob("*.json"))) - 1


def test_shipped_data_passes_the_checker():
    from compliance.frameworks import validate

    assert validate.main() == 0
