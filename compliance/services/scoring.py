"""Scores of an assessment: for its whole scope, per site, and over time.

* Each applicable requirement is worth its obligation weight (mandatory 2, recommended 1;
  frameworks without the notion count every requirement as mandatory).
* compliant = 1, partially compliant = 0.5, non-compliant = 0, not assessed = 0 (and counted
  separately, so coverage shows), not applicable = left out of the total.
* A compliant or partially compliant result whose evidence has all expired (stale) keeps half
  its value (``STALE_FACTOR``) until fresh evidence is added.
* Per site: results that follow the checks are recomputed over that site's devices only;
  results set by a person apply unchanged.
"""

from dataclasses import asdict, dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.utils import timezone

from encompass.events.services import record_event
from encompass.tenancy.models import Site

from ..choices import (
    OBLIGATION_WEIGHTS,
    RESULT_VALUES,
    STALE_FACTOR,
    EvidenceState,
    Obligation,
    Result,
    ResultSource,
)
from ..models import Requirement, ScoreSnapshot
from .evidence import evidence_for, evidence_state
from .suggestions import checks_by_requirement, latest_runs, scope_of, suggestion


@dataclass
class GroupScore:
    ref: str
    title: str
    score: float | None
    counts: dict


@dataclass
class Score:
    score: float  # 0-100 over applicable requirements (0 when nothing applies)
    mandatory_score: float | None
    counts: dict  # result -> number
    stale: int
    without_evidence: int
    applicable: int
    assessed: int
    groups: list = field(default_factory=list)

    @property
    def coverage(self):
        return round(100 * self.assessed / self.applicable, 1) if self.applicable else 0.0

    def as_dict(self):
        data = asdict(self)
        data["coverage"] = self.coverage
        return data


@dataclass
class _GroupTally:
    """A top-level requirement group while scoring: weighted points earned out of possible, and
    how many of its requirements have each result."""

    group: Requirement
    earned: float = 0.0
    possible: float = 0.0
    counts: dict = field(default_factory=dict)


def _rounded(value):
    return float(Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


class ScoreInputs:
    """What scoring one assessment reads, loaded once (a fixed number of queries) and then shared
    by its overall score and every site's score: results, evidence, requirement tree, latest
    check runs. Nothing here grows with the fleet (check runs carry per-scope counts)."""

    def __init__(self, assessment, *, runs=None, parents=None):
        self.assessment = assessment
        self.runs = latest_runs(assessment.organization) if runs is None else runs
        self.rows = list(
            assessment.results.select_related("requirement").order_by("requirement__order")
        )
        self.evidence = evidence_for(assessment, [row.requirement_id for row in self.rows])
        if parents is None:
            parents = {
                r.pk: r for r in Requirement.objects.filter(framework=assessment.framework_id)
            }
        self.parents = parents
        self.index = checks_by_requirement(assessment.framework.code)
        _sites, self.type_ids = scope_of(assessment)

    def effective(self, site=None):
        if site is None:
            return [(row, row.result) for row in self.rows]
        out = []
        for row in self.rows:
            value = row.result
            if row.source == ResultSource.CHECK and row.requirement.ref in self.index:
                checks = self.index[row.requirement.ref]
                value = suggestion(checks, self.runs, {site.pk}, self.type_ids) or value
            out.append((row, value))
        return out


def effective_results(assessment, site=None, runs=None):
    """``[(RequirementResult, result value)]`` -- for ``site``, automatic results recomputed over
    that site's devices."""
    return ScoreInputs(assessment, runs=runs).effective(site)


def _top_group(requirement, parents):
    node = requirement
    while node.parent_id and node.parent_id in parents:
        node = parents[node.parent_id]
    return node


def compute_score(assessment, site=None, *, runs=None, at=None, inputs=None):
    """The score of ``assessment`` (or of one ``site`` of it). Pass ``inputs`` (a
    ``ScoreInputs``) to score several sites of one assessment without reading it again."""
    at = at or timezone.now()
    inputs = inputs or ScoreInputs(assessment, runs=runs)
    pairs = inputs.effective(site)
    evidence = inputs.evidence
    parents = inputs.parents
    counts = {r: 0 for r in Result.values}
    totals = {"all": [0.0, 0.0], "mandatory": [0.0, 0.0]}
    groups = {}
    stale = without = 0
    for row, value in pairs:
        counts[value] += 1
        worth = RESULT_VALUES[value]
        state = evidence_state(evidence.get(row.requirement_id, ()), at)
        if value in (Result.COMPLIANT, Result.PARTIALLY_COMPLIANT):
            if state == EvidenceState.STALE:
                stale += 1
                worth *= STALE_FACTOR
            elif state == EvidenceState.NONE:
                without += 1
        group = _top_group(parents.get(row.requirement_id, row.requirement), parents)
        g = groups.get(group.pk)
        if g is None:
            g = groups[group.pk] = _GroupTally(group, counts={r: 0 for r in Result.values})
        g.counts[value] += 1
        if worth is None:
            continue
        weight = OBLIGATION_WEIGHTS.get(row.requirement.obligation, 1)
        totals["all"][0] += weight * worth
        totals["all"][1] += weight
        g.earned += weight * worth
        g.possible += weight
        if row.requirement.obligation == Obligation.MANDATORY:
            totals["mandatory"][0] += worth
            totals["mandatory"][1] += 1
    applicable = len(pairs) - counts[Result.NOT_APPLICABLE]
    got, out_of = totals["all"]
    m_got, m_out_of = totals["mandatory"]
    return Score(
        score=_rounded(100 * got / out_of) if out_of else 0.0,
        mandatory_score=_rounded(100 * m_got / m_out_of) if m_out_of else None,
        counts=counts,
        stale=stale,
        without_evidence=without,
        applicable=applicable,
        assessed=applicable - counts[Result.NOT_ASSESSED],
        groups=[
            GroupScore(
                ref=g.group.ref,
                title=g.group.title,
                score=_rounded(100 * g.earned / g.possible) if g.possible else None,
                counts=g.counts,
            )
            for g in sorted(groups.values(), key=lambda g: g.group.order)
        ],
    )


def scope_sites(assessment):
    sites = list(assessment.sites.all())
    if sites:
        return sites
    return list(Site.objects.filter(organization=assessment.organization_id))


def _snapshot(assessment, site, score, reason, now):
    return ScoreSnapshot(
        organization_id=assessment.organization_id,
        assessment=assessment,
        site=site,
        taken_at=now,
        reason=reason,
        score=Decimal(str(score.score)),
        mandatory_score=None
        if score.mandatory_score is None
        else Decimal(str(score.mandatory_score)),
        compliant=score.counts[Result.COMPLIANT],
        partially_compliant=score.counts[Result.PARTIALLY_COMPLIANT],
        non_compliant=score.counts[Result.NON_COMPLIANT],
        not_assessed=score.counts[Result.NOT_ASSESSED],
        not_applicable=score.counts[Result.NOT_APPLICABLE],
        stale=score.stale,
    )


SNAPSHOT_FIELDS = (
    "score",
    "mandatory_score",
    "compliant",
    "partially_compliant",
    "non_compliant",
    "not_assessed",
    "not_applicable",
    "stale",
)


def _same(a, b):
    return b is not None and all(getattr(a, f) == getattr(b, f) for f in SNAPSHOT_FIELDS)


@transaction.atomic
def record_snapshots(assessment, *, reason, only_if_changed=False, now=None):
    """Store the score of ``assessment`` and of each site in scope; returns the rows written.

    ``only_if_changed`` skips a row equal to the previous one (after check runs, so a quiet
    fleet does not fill the history); the daily job always records.
    """
    now = now or timezone.now()
    inputs = ScoreInputs(assessment)
    rows = []
    for site in [None, *scope_sites(assessment)]:
        score = compute_score(assessment, site, at=now, inputs=inputs)
        row = _snapshot(assessment, site, score, reason, now)
        if only_if_changed:
            last = (
                ScoreSnapshot.objects.filter(assessment=assessment, site=site)
                .order_by("-taken_at", "-pk")
                .first()
            )
            if _same(row, last):
                continue
        rows.append(row)
    ScoreSnapshot.objects.bulk_create(rows)
    overall = next((r for r in rows if r.site_id is None), None)
    if overall is not None:
        record_event(
            "compliance.score_recorded",
            organization=assessment.organization,
            payload={
                "assessment": assessment.pk,
                "score": float(overall.score),
                "reason": reason,
            },
        )
    return rows


def history(assessment, site=None, limit=90):
    """The latest ``limit`` snapshots, oldest first (for the trend chart)."""
    rows = ScoreSnapshot.objects.filter(assessment=assessment, site=site).order_by(
        "-taken_at", "-pk"
    )[:limit]
    return list(reversed(rows))
