"""Assessments, results following checks, evidence (expiry, mappings), scoring, exports, and
the flow of fixing a failing check."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from compliance.choices import EvidenceState, Result, ResultSource
from compliance.models import CheckRun, Evidence, Requirement, ScoreSnapshot
from compliance.services import assessments as svc
from compliance.services.checks import run_checks
from compliance.services.evidence import (
    add_evidence,
    evidence_for,
    evidence_state,
    flag_expired_evidence,
)
from compliance.services.reports import export_report
from compliance.services.scoring import compute_score, record_snapshots
from devices.models import Device
from encompass.audit.models import AuditEntry
from encompass.exceptions import NotPermitted, ValidationError
from encompass.tenancy.roles import Role

from .conftest import csr_for, issue


def officer(world):
    return world.a.user(Role.SECURITY_OFFICER)


@pytest.fixture
def etsi_assessment(world, frameworks):
    return svc.create_assessment(
        world.a.org,
        framework=frameworks["etsi-en-303-645"],
        name="ETSI review",
        actor=officer(world),
        start=True,
    )


def result(assessment, ref):
    return assessment.results.select_related("requirement").get(requirement__ref=ref)


def req(code, ref):
    return Requirement.objects.get(framework__code=code, ref=ref)


def test_create_assessment_has_a_result_per_provision(world, etsi_assessment):
    assert etsi_assessment.results.count() == 67
    assert etsi_assessment.status == "in_progress" and etsi_assessment.started_at
    assert AuditEntry.objects.filter(action="compliance.assessment.create").exists()


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.TECHNICIAN, Role.AUDITOR])
def test_only_security_roles_create_assessments(world, frameworks, role):
    with pytest.raises(NotPermitted):
        svc.create_assessment(
            world.a.org, framework=frameworks["nist-csf"], name="x", actor=world.a.user(role)
        )


def test_scope_must_stay_in_the_organization(world, frameworks):
    with pytest.raises(ValidationError) as exc:
        svc.create_assessment(
            world.a.org,
            framework=frameworks["nist-csf"],
            name="x",
            actor=officer(world),
            sites=[world.b.sites[0]],
        )
    assert "sites" in exc.value.message_dict


def test_not_applicable_needs_a_justification(world, etsi_assessment):
    row = result(etsi_assessment, "5.8-3")
    with pytest.raises(ValidationError) as exc:
        svc.set_result(row, actor=officer(world), result_value=Result.NOT_APPLICABLE)
    assert "justification" in exc.value.message_dict
    row.refresh_from_db()
    assert row.result == Result.NOT_ASSESSED
    done = svc.set_result(
        row,
        actor=officer(world),
        result_value=Result.NOT_APPLICABLE,
        justification="The device has no external sensors.",
    )
    assert done.result == Result.NOT_APPLICABLE and done.source == ResultSource.MANUAL


def test_auditor_and_operator_cannot_set_results(world, etsi_assessment):
    row = result(etsi_assessment, "5.2-1")
    for role in (Role.AUDITOR, Role.OPERATOR):
        with pytest.raises(NotPermitted):
            svc.set_result(row, actor=world.a.user(role), result_value=Result.COMPLIANT)
    with pytest.raises(NotPermitted):  # another tenant's officer
        svc.set_result(
            row, actor=world.b.user(Role.SECURITY_OFFICER), result_value=Result.COMPLIANT
        )


def test_results_follow_checks_until_overridden(world, fleet, etsi_assessment):
    run_checks(world.a.org, actor=officer(world))
    row = result(etsi_assessment, "5.3-13")  # support-period-ended
    assert row.suggested_result == Result.COMPLIANT and row.result == Result.COMPLIANT
    dtype = fleet[0].device_type
    dtype.support_ends_on = timezone.localdate() - timedelta(days=1)
    dtype.save()
    run_checks(world.a.org, actor=officer(world), codes=["support-period-ended"])
    row.refresh_from_db()
    assert row.result == Result.NON_COMPLIANT and row.source == ResultSource.CHECK
    # A person may differ from the checks only with a justification.
    with pytest.raises(ValidationError):
        svc.set_result(row, actor=officer(world), result_value=Result.COMPLIANT)
    svc.set_result(
        row,
        actor=officer(world),
        result_value=Result.PARTIALLY_COMPLIANT,
        justification="Replacement ordered; units isolated on their own VLAN.",
    )
    run_checks(world.a.org, actor=officer(world), codes=["support-period-ended"])
    row.refresh_from_db()
    assert row.result == Result.PARTIALLY_COMPLIANT  # the person's result wins
    svc.revert_to_checks(row, actor=officer(world))
    row.refresh_from_db()
    assert row.result == Result.NON_COMPLIANT and row.source == ResultSource.CHECK


def test_scope_narrows_failing_devices(world, fleet, frameworks):
    scoped = svc.create_assessment(
        world.a.org,
        framework=frameworks["etsi-en-303-645"],
        name="Site 2 only",
        actor=officer(world),
        sites=[world.a.sites[1]],
    )
    Device.objects.filter(pk=fleet[0].pk).update(
        last_seen_at=timezone.now() - timedelta(hours=2)
    )  # fleet[0] is at site 1: out of scope
    run_checks(world.a.org, actor=officer(world), codes=["silent-devices"])
    assert result(scoped, "5.10-1").result == Result.COMPLIANT
    whole = svc.create_assessment(
        world.a.org,
        framework=frameworks["etsi-en-303-645"],
        name="Everything",
        actor=officer(world),
    )
    assert result(whole, "5.10-1").result == Result.NON_COMPLIANT


def test_check_run_is_stored_as_evidence_on_every_mapped_framework(world, fleet, frameworks):
    run_checks(world.a.org, actor=officer(world), codes=["silent-devices"])
    run = CheckRun.objects.get(organization=world.a.org, check_code="silent-devices")
    evidence = Evidence.objects.get(organization=world.a.org, check_code="silent-devices")
    assert evidence.check_run == run and evidence.kind == "check_result"
    refs = {(r.framework.code, r.ref) for r in evidence.requirements.select_related("framework")}
    assert refs == {
        ("etsi-en-303-645", "5.10-1"),
        ("nist-csf", "DE.CM-09"),
        ("iec-62443-4-2", "CR 6.2"),
        ("iso-27001-annex-a", "A.8.16"),
        ("en-18031-1", "RLM-1"),
    }
    assert evidence.valid_until > timezone.now()
    assert AuditEntry.objects.filter(action="compliance.checks.run").exists()


def test_evidence_file_is_hashed_and_limited(world, etsi_assessment, settings):
    upload = SimpleUploadedFile("policy.pdf", b"%PDF-1.4 policy", content_type="application/pdf")
    ev = add_evidence(
        world.a.org,
        actor=world.a.user(Role.OPERATOR),
        title="Vulnerability disclosure policy",
        requirements=[req("etsi-en-303-645", "5.2-1")],
        file=upload,
    )
    import hashlib

    assert ev.sha256 == hashlib.sha256(b"%PDF-1.4 policy").hexdigest()
    assert ev.size == 15 and ev.file.read() == b"%PDF-1.4 policy"
    settings.COMPLIANCE = {"EVIDENCE_MAX_BYTES": 10}
    with pytest.raises(ValidationError) as exc:
        add_evidence(
            world.a.org,
            actor=officer(world),
            title="Too big",
            file=SimpleUploadedFile("big.pdf", b"x" * 11, content_type="application/pdf"),
        )
    assert "file" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        add_evidence(
            world.a.org,
            actor=officer(world),
            title="Script",
            file=SimpleUploadedFile("x.html", b"<script>", content_type="text/html"),
        )
    assert "file" in exc.value.message_dict
    with pytest.raises(NotPermitted):
        add_evidence(
            world.a.org, actor=world.a.user(Role.AUDITOR), title="x", url="https://example.test"
        )


def test_evidence_expiry_makes_results_stale_and_is_flagged_once(world, etsi_assessment):
    from devices.monitoring.models import Alert

    row = result(etsi_assessment, "5.2-1")
    svc.set_result(row, actor=officer(world), result_value=Result.COMPLIANT)
    before = compute_score(etsi_assessment)
    ev = add_evidence(
        world.a.org,
        actor=officer(world),
        title="Disclosure policy page",
        url="https://example.test/security",
        requirements=[row.requirement],
        valid_until=timezone.now() + timedelta(days=1),
    )
    assert evidence_state(evidence_for(etsi_assessment)[row.requirement_id]) == "current"
    assert compute_score(etsi_assessment).score == before.score
    Evidence.objects.filter(pk=ev.pk).update(valid_until=timezone.now() - timedelta(minutes=1))
    stale = compute_score(etsi_assessment)
    assert evidence_state(evidence_for(etsi_assessment)[row.requirement_id]) == "stale"
    assert stale.stale == 1 and stale.score < before.score
    assert flag_expired_evidence() == 1
    assert flag_expired_evidence() == 0  # deduplicated
    assert Alert.objects.filter(kind="compliance.evidence_expired").count() == 1


def test_evidence_serves_mapped_requirements(world, frameworks):
    """ETSI 5.1-1 is a subset of IEC CR 1.5: CR 1.5's evidence serves 5.1-1, not the reverse."""
    etsi = svc.create_assessment(
        world.a.org, framework=frameworks["etsi-en-303-645"], name="E", actor=officer(world)
    )
    iec = svc.create_assessment(
        world.a.org, framework=frameworks["iec-62443-4-2"], name="I", actor=officer(world)
    )
    cr15, p511 = req("iec-62443-4-2", "CR 1.5"), req("etsi-en-303-645", "5.1-1")
    broad = add_evidence(
        world.a.org,
        actor=officer(world),
        title="Authenticator management procedure",
        url="https://example.test/auth",
        requirements=[cr15],
    )
    assert broad in evidence_for(etsi)[p511.pk]
    narrow = add_evidence(
        world.a.org,
        actor=officer(world),
        title="Unique passwords",
        url="https://example.test/pw",
        requirements=[p511],
    )
    assert narrow not in evidence_for(iec)[cr15.pk]
    # Intersecting mappings never propagate.
    p535 = req("etsi-en-303-645", "5.3-10")
    cr34 = req("iec-62443-4-2", "CR 3.4 RE(1)")
    ev = add_evidence(
        world.a.org,
        actor=officer(world),
        title="x",
        url="https://example.test/x",
        requirements=[cr34],
    )
    assert ev not in evidence_for(etsi)[p535.pk]
    # Another tenant's evidence never serves.
    add_evidence(
        world.b.org,
        actor=world.b.user(Role.ADMIN),
        title="theirs",
        url="https://example.test/b",
        requirements=[p511],
    )
    assert {e.title for e in evidence_for(etsi)[p511.pk]} == {
        "Authenticator management procedure",
        "Unique passwords",
    }


def test_scoring_weights_and_exclusions(world, frameworks):
    a = svc.create_assessment(
        world.a.org, framework=frameworks["etsi-en-303-645"], name="S", actor=officer(world)
    )
    assert compute_score(a).score == 0.0
    total = compute_score(a).applicable
    assert total == 67
    mandatory = list(a.results.filter(requirement__obligation="mandatory")[:2])
    recommended = a.results.filter(requirement__obligation="recommended").first()
    svc.set_result(mandatory[0], actor=officer(world), result_value=Result.COMPLIANT)
    svc.set_result(mandatory[1], actor=officer(world), result_value=Result.PARTIALLY_COMPLIANT)
    svc.set_result(
        recommended, actor=officer(world), result_value=Result.NOT_APPLICABLE, justification="n/a"
    )
    score = compute_score(a)
    # 32 mandatory x2 + 34 applicable recommended x1 = 98; got 2 + 1 = 3.
    assert score.score == round(100 * 3 / 98, 2)
    assert score.mandatory_score == round(100 * 1.5 / 32, 2)
    assert score.counts[Result.NOT_APPLICABLE] == 1 and score.applicable == 66
    assert score.assessed == 2 and score.without_evidence == 2


def test_site_scores_and_history(world, fleet, etsi_assessment):
    Device.objects.filter(pk=fleet[0].pk).update(last_seen_at=None)
    run_checks(world.a.org, actor=officer(world))
    site1, site2 = world.a.sites
    s1 = compute_score(etsi_assessment, site1)
    s2 = compute_score(etsi_assessment, site2)
    assert s2.score > s1.score  # the silent device is at site 1
    rows = record_snapshots(etsi_assessment, reason="daily")
    assert {r.site_id for r in rows} == {None, site1.pk, site2.pk}
    assert ScoreSnapshot.objects.filter(assessment=etsi_assessment, site=None).count() >= 2


def test_exports_are_audited(world, etsi_assessment):
    import csv
    import io
    import json

    body = export_report(etsi_assessment, actor=world.a.user(Role.AUDITOR), fmt="csv")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == 67 and rows[0]["ref"] == "5.1-1"
    entry = AuditEntry.objects.filter(action="compliance.assessment.export").latest("sequence")
    assert entry.changes == {"format": "csv", "report": "assessment", "rows": 67}
    soa = json.loads(export_report(etsi_assessment, actor=officer(world), kind="soa", fmt="json"))
    assert soa["meta"]["framework"].startswith("ETSI EN 303 645")
    assert {"applicable", "justification", "evidence"} <= set(soa["rows"][0])
    html = export_report(etsi_assessment, actor=officer(world), fmt="html")
    assert "5.13-1" in html and "<link" not in html and "<script" not in html
    with pytest.raises(NotPermitted):
        export_report(etsi_assessment, actor=world.a.user(Role.TECHNICIAN), fmt="csv")
    with pytest.raises(ValidationError):
        export_report(etsi_assessment, actor=officer(world), fmt="xlsx")
    assert AuditEntry.objects.filter(action="compliance.assessment.export").count() == 3


def test_rotating_an_expiring_certificate_turns_the_check_green(
    world, fleet, certificate_authority, etsi_assessment
):
    from devices.identity.services.issuance import renew

    for d in fleet[1:]:
        issue(d)
    expiring, _key = issue(fleet[0], days=7)
    runs = run_checks(world.a.org, actor=officer(world), codes=["certificate-expiry"])
    assert runs[0].passed is False
    assert [r["id"] for r in runs[0].failing] == [fleet[0].pk]
    assert result(etsi_assessment, "5.5-8").result == Result.NON_COMPLIANT
    before = compute_score(etsi_assessment).score
    # The device renews over the device API (here: the same identity service it calls).
    from cryptography.hazmat.primitives.asymmetric import ec

    renew(fleet[0], expiring, csr_for(ec.generate_private_key(ec.SECP256R1())))
    runs = run_checks(world.a.org, actor=officer(world), codes=["certificate-expiry"])
    assert runs[0].passed is True
    assert result(etsi_assessment, "5.5-8").result == Result.COMPLIANT
    assert compute_score(etsi_assessment).score > before
    assert (
        evidence_state(evidence_for(etsi_assessment)[req("etsi-en-303-645", "5.5-8").pk])
        == EvidenceState.CURRENT
    )
