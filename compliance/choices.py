"""Choices of the compliance app, each with its label and colour, and the scoring weights."""

from django.db import models

from encompass.tenancy.roles import Role


class Obligation(models.TextChoices):
    MANDATORY = "mandatory", "Mandatory"
    RECOMMENDED = "recommended", "Recommended"


# Weight of a requirement in a framework score (see docs/compliance.md, "Scoring").
OBLIGATION_WEIGHTS = {Obligation.MANDATORY: 2, Obligation.RECOMMENDED: 1}


class Result(models.TextChoices):
    NOT_ASSESSED = "not_assessed", "Not assessed"
    COMPLIANT = "compliant", "Compliant"
    PARTIALLY_COMPLIANT = "partially_compliant", "Partially compliant"
    NON_COMPLIANT = "non_compliant", "Non-compliant"
    NOT_APPLICABLE = "not_applicable", "Not applicable"


RESULT_COLOURS = {
    Result.NOT_ASSESSED: "#6e7781",
    Result.COMPLIANT: "#1a7f37",
    Result.PARTIALLY_COMPLIANT: "#9a6700",
    Result.NON_COMPLIANT: "#cf222e",
    Result.NOT_APPLICABLE: "#8c959f",
}
# What a result is worth in a score; None: excluded from the denominator.
RESULT_VALUES = {
    Result.NOT_ASSESSED: 0.0,
    Result.COMPLIANT: 1.0,
    Result.PARTIALLY_COMPLIANT: 0.5,
    Result.NON_COMPLIANT: 0.0,
    Result.NOT_APPLICABLE: None,
}
# A compliant or partially compliant result whose evidence has all expired keeps this share.
STALE_FACTOR = 0.5


class ResultSource(models.TextChoices):
    """Who set a result: a person, or the automated checks mapped to the requirement."""

    MANUAL = "manual", "Set by a person"
    CHECK = "check", "Follows the automated checks"


class AssessmentStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"


ASSESSMENT_TRANSITIONS = {
    AssessmentStatus.DRAFT: {AssessmentStatus.IN_PROGRESS},
    AssessmentStatus.IN_PROGRESS: {AssessmentStatus.COMPLETED, AssessmentStatus.DRAFT},
    AssessmentStatus.COMPLETED: {AssessmentStatus.IN_PROGRESS},
}
# Assessments whose automated results follow each check run.
LIVE_STATUSES = (AssessmentStatus.DRAFT, AssessmentStatus.IN_PROGRESS)


class EvidenceKind(models.TextChoices):
    FILE = "file", "Uploaded file"
    LINK = "link", "Link"
    CHECK_RESULT = "check_result", "Automated check result"


class EvidenceState(models.TextChoices):
    """Whether a result is backed by evidence that is still valid."""

    CURRENT = "current", "Current evidence"
    STALE = "stale", "Evidence expired"
    NONE = "none", "No evidence"


class MappingRelation(models.TextChoices):
    """How the ``from`` requirement relates to the ``to`` requirement."""

    EQUIVALENT = "equivalent", "Equivalent"
    SUBSET = "subset", "Subset (narrower)"
    SUPERSET = "superset", "Superset (broader)"
    INTERSECT = "intersect", "Intersect (overlap)"


class ExportFormat(models.TextChoices):
    CSV = "csv", "CSV"
    JSON = "json", "JSON"
    HTML = "html", "HTML (printable, self-contained)"
    PDF = "pdf", "PDF (made on the server; its SHA-256 in the audit trail)"


class ReportKind(models.TextChoices):
    ASSESSMENT = "assessment", "Assessment report"
    SOA = "soa", "Statement of applicability"


SECURITY = frozenset({Role.ADMIN, Role.SECURITY_OFFICER})
# Operators hold the operational artefacts (runbooks, screenshots, configurations).
EVIDENCE_WRITERS = SECURITY | {Role.OPERATOR}
# Exports leave the platform: staff who own compliance, and auditors.
EXPORTERS = SECURITY | {Role.AUDITOR}
CHECK_RUNNERS = SECURITY | {Role.OPERATOR}
