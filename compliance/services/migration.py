"""Moving an assessment to a new version of its framework, with a report of what changed.

A new edition of a catalogue (e.g. ETSI EN 303 645 V3.x) is loaded beside the old one
(``load_frameworks path/to/new.json``). ``migrate_assessment`` then creates a successor assessment
against the new version, with the same organization, scope and status, and carries each result
across:

* same ref in both versions -> the result, notes, justification and owner are carried; when the
  title, obligation or condition changed the row is listed as *changed* so someone re-reads it;
* a new requirement that names old refs in ``supersedes`` (a split or a renumbering) -> the old
  result is carried when the old refs agree, with a note saying where it came from;
* a new requirement with no predecessor -> *added*, not assessed;
* an old requirement with no successor -> *dropped*: its result stays on the old assessment.

The old assessment is never changed, so nothing is lost; evidence linked to a carried old
requirement is linked to its successor too. ``dry_run`` computes the report and writes nothing.
"""

from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from encompass.audit.services import record_audit, snapshot
from encompass.exceptions import ValidationError
from encompass.tenancy.access import ensure_can_create, ensure_permitted

from ..choices import AssessmentStatus, Result
from ..models import Assessment, Evidence, Framework, Requirement, RequirementResult
from .assessments import apply_latest_checks, sync_results
from .common import user_or_none

COMPARED = ("title", "obligation", "conditional", "condition")
CARRIED = ("result", "source", "justification", "notes", "owner_id")


@dataclass
class MigrationReport:
    source: str
    target: str
    assessment: str
    carried: list = field(default_factory=list)  # refs, unchanged
    changed: list = field(default_factory=list)  # {"ref", "fields": {name: [old, new]}, "result"}
    superseded: list = field(default_factory=list)  # {"ref", "from": [refs], "result"}
    added: list = field(default_factory=list)  # refs
    dropped: list = field(default_factory=list)  # {"ref", "result"}
    evidence_linked: int = 0
    new_assessment_id: int | None = None

    def as_dict(self):
        return {
            "from": self.source,
            "to": self.target,
            "assessment": self.assessment,
            "new_assessment": self.new_assessment_id,
            "carried": self.carried,
            "changed": self.changed,
            "superseded": self.superseded,
            "added": self.added,
            "dropped": self.dropped,
            "evidence_linked": self.evidence_linked,
        }

    def lines(self):
        out = [
            f"{self.assessment}: {self.source} -> {self.target}",
            f"  carried unchanged: {len(self.carried)}",
            f"  carried, requirement changed (review): {len(self.changed)}",
        ]
        for c in self.changed:
            what = ", ".join(f"{k} {v[0]!r} -> {v[1]!r}" for k, v in c["fields"].items())
            out.append(f"    {c['ref']} ({c['result']}): {what}")
        out.append(f"  carried from superseded requirements: {len(self.superseded)}")
        for c in self.superseded:
            out.append(f"    {c['ref']} <- {', '.join(c['from'])} ({c['result']})")
        out.append(f"  added (not assessed): {len(self.added)}")
        if self.added:
            out.append(f"    {', '.join(self.added)}")
        out.append(f"  dropped (result kept on the old assessment only): {len(self.dropped)}")
        for c in self.dropped:
            out.append(f"    {c['ref']} ({c['result']})")
        out.append(f"  evidence links added: {self.evidence_linked}")
        return out


def _label(fw):
    return f"{fw.code} {fw.version} r{fw.data_revision}"


def _plan(assessment, target):
    """``(report, [(new requirement, old result row or None, note)])`` without writing."""
    old_rows = {
        r.requirement.ref: r
        for r in assessment.results.select_related("requirement").order_by("requirement__order")
    }
    new_reqs = list(
        Requirement.objects.filter(
            framework=target, assessable=True, withdrawn_in_revision__isnull=True
        ).order_by("order")
    )
    report = MigrationReport(
        source=_label(assessment.framework), target=_label(target), assessment=assessment.name
    )
    plan = []
    used = set()
    for req in new_reqs:
        row = old_rows.get(req.ref)
        if row is not None:
            used.add(req.ref)
            diffs = {
                name: [getattr(row.requirement, name), getattr(req, name)]
                for name in COMPARED
                if getattr(row.requirement, name) != getattr(req, name)
            }
            if diffs:
                report.changed.append({"ref": req.ref, "fields": diffs, "result": row.result})
            else:
                report.carried.append(req.ref)
            plan.append((req, row, ""))
            continue
        predecessors = [old_rows[r] for r in req.supersedes if r in old_rows]
        if predecessors:
            used.update(p.requirement.ref for p in predecessors)
            results = {p.result for p in predecessors}
            refs = [p.requirement.ref for p in predecessors]
            if len(results) == 1:
                carried = predecessors[0]
                note = f"Carried from {', '.join(refs)} of {assessment.framework.version}."
            else:  # the old refs disagree: leave it to a person
                carried = None
                note = (
                    f"Supersedes {', '.join(refs)} of {assessment.framework.version}, whose "
                    f"results differ ({', '.join(sorted(results))}); assess it again."
                )
            report.superseded.append(
                {
                    "ref": req.ref,
                    "from": refs,
                    "result": carried.result if carried else Result.NOT_ASSESSED,
                }
            )
            plan.append((req, carried, note))
            continue
        report.added.append(req.ref)
        plan.append((req, None, ""))
    for ref, row in old_rows.items():
        if ref not in used:
            report.dropped.append({"ref": ref, "result": row.result})
    return report, plan


@transaction.atomic
def migrate_assessment(assessment, target, *, actor, name=None, dry_run=False, system=False):
    """Create the successor of ``assessment`` against ``target`` (a newer version of the same
    framework) and return the ``MigrationReport``. ``system`` is for management commands."""
    if not isinstance(target, Framework) or target.code != assessment.framework.code:
        raise ValidationError(
            {"framework": f"Choose a version of {assessment.framework.code} to migrate to."}
        )
    if target.pk == assessment.framework_id:
        raise ValidationError({"framework": "The assessment already uses this version."})
    if not system:
        ensure_permitted(actor, "view", assessment)
        ensure_can_create(actor, Assessment, assessment.organization)
    report, plan = _plan(assessment, target)
    if dry_run:
        return report
    new_name = (name or f"{assessment.name} ({target.name} {target.version})").strip()[:200]
    if Assessment.objects.filter(organization=assessment.organization, name=new_name).exists():
        raise ValidationError({"name": f"An assessment named {new_name!r} already exists."})
    now = timezone.now()
    live = assessment.status != AssessmentStatus.COMPLETED
    successor = Assessment(
        organization=assessment.organization,
        framework=target,
        name=new_name,
        description=assessment.description,
        owner=assessment.owner,
        created_by=user_or_none(actor),
        status=assessment.status if live else AssessmentStatus.IN_PROGRESS,
        started_at=assessment.started_at or now,
    )
    successor.full_clean()
    successor.save()
    successor.sites.set(assessment.sites.all())
    successor.device_types.set(assessment.device_types.all())
    sync_results(successor)
    rows = {r.requirement_id: r for r in successor.results.all()}
    links = []
    for req, old, note in plan:
        row = rows[req.pk]
        if old is not None:
            for name_ in CARRIED:
                setattr(row, name_, getattr(old, name_))
            links.append((old.requirement_id, req.pk))
        if note:
            row.notes = f"{row.notes}\n{note}".strip()
        row.updated_by = user_or_none(actor)
    RequirementResult.objects.bulk_update(
        rows.values(), [*CARRIED, "notes", "updated_by"], batch_size=500
    )
    through = Evidence.requirements.through
    wanted = []
    for old_req, new_req in links:
        for ev_id in Evidence.objects.filter(
            organization=assessment.organization, requirements=old_req
        ).values_list("pk", flat=True):
            wanted.append(through(evidence_id=ev_id, requirement_id=new_req))
    before = through.objects.filter(requirement__framework=target).count()
    through.objects.bulk_create(wanted, ignore_conflicts=True)
    report.evidence_linked = through.objects.filter(requirement__framework=target).count() - before
    report.new_assessment_id = successor.pk
    record_audit(
        "compliance.assessment.migrate",
        actor=actor,
        obj=successor,
        changes={
            "after": snapshot(successor),
            "from_assessment": assessment.pk,
            "from": report.source,
            "to": report.target,
            "carried": len(report.carried),
            "changed": [c["ref"] for c in report.changed],
            "superseded": [c["ref"] for c in report.superseded],
            "added": report.added,
            "dropped": [c["ref"] for c in report.dropped],
        },
    )
    apply_latest_checks(successor, actor=actor)
    return report
