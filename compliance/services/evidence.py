"""Evidence: add a file or a link, link it to requirements, retire it; which evidence serves a
requirement (directly or through mappings), and whether it is still current.

Propagation through mappings (``RequirementMapping``; the relation describes ``source``
relative to ``target``): evidence for the broader or equal requirement serves the narrower one.

* ``equivalent``: both ways;
* ``superset`` (source broader): source's evidence serves target;
* ``subset`` (source narrower): target's evidence serves source;
* ``intersect``: never (the overlap is partial; attach the evidence to both explicitly).
"""

import hashlib
import mimetypes
from collections import defaultdict

from django.conf import settings
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from encompass.audit.services import diff, record_audit, snapshot
from encompass.events.services import record_event
from encompass.exceptions import ValidationError
from encompass.tenancy.access import ensure_permitted

from ..choices import EvidenceKind, EvidenceState, MappingRelation
from ..models import Evidence, Requirement, RequirementMapping
from .common import ensure_role_in, user_or_none

ALLOWED_CONTENT_TYPES = {
    "application/pdf",
    "text/plain",
    "text/csv",
    "application/json",
    "image/png",
    "image/jpeg",
    "application/zip",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
}


def max_file_bytes():
    return getattr(settings, "COMPLIANCE", {}).get("EVIDENCE_MAX_BYTES", 20 * 1024 * 1024)


def _check_links(organization, requirements, assessment):
    if assessment is not None and assessment.organization_id != organization.pk:
        raise ValidationError({"assessment": "The assessment belongs to another organization."})
    for req in requirements:
        if not isinstance(req, Requirement) or not req.assessable:
            raise ValidationError({"requirements": f"{req} is not an assessable requirement."})


def _check_validity(valid_until):
    if valid_until is not None and valid_until <= timezone.now():
        raise ValidationError({"valid_until": "Evidence must be valid for some time from now."})


@transaction.atomic
def add_evidence(
    organization,
    *,
    actor,
    title,
    requirements=(),
    assessment=None,
    file=None,
    url="",
    description="",
    valid_until=None,
):
    """Store an uploaded file (hashed, size- and type-checked) or a link as evidence."""
    from ..models import Assessment

    ensure_role_in(actor, organization, Assessment.role_permissions["evidence"], "add evidence")
    title = (title or "").strip()
    if not title:
        raise ValidationError({"title": "Give the evidence a title."})
    if bool(file) == bool(url):
        raise ValidationError({"file": "Give either a file or a link (url), not both."})
    requirements = list(requirements)
    _check_links(organization, requirements, assessment)
    _check_validity(valid_until)
    evidence = Evidence(
        organization=organization,
        title=title,
        description=description,
        assessment=assessment,
        valid_until=valid_until,
        added_by=user_or_none(actor),
    )
    if file:
        size = file.size
        if size > max_file_bytes():
            raise ValidationError(
                {"file": f"The file is {size} bytes; the limit is {max_file_bytes()} bytes."}
            )
        if size == 0:
            raise ValidationError({"file": "The file is empty."})
        content_type = (
            getattr(file, "content_type", None)
            or mimetypes.guess_type(file.name)[0]
            or "application/octet-stream"
        ).split(";")[0]
        if content_type not in ALLOWED_CONTENT_TYPES:
            raise ValidationError(
                {"file": f"Files of type {content_type} are not accepted as evidence."}
            )
        digest = hashlib.sha256()
        for chunk in file.chunks():
            digest.update(chunk)
        file.seek(0)
        evidence.kind = EvidenceKind.FILE
        evidence.sha256 = digest.hexdigest()
        evidence.size = size
        evidence.content_type = content_type
        evidence.original_name = str(file.name).rsplit("/", 1)[-1][:255]
        evidence.file.save(evidence.original_name, file, save=False)
    else:
        try:
            URLValidator(schemes=["https", "http"])(url)
        except ValidationError as exc:
            raise ValidationError({"url": "Enter a valid http(s) link."}) from exc
        evidence.kind = EvidenceKind.LINK
        evidence.url = url
    evidence.full_clean()
    evidence.save()
    evidence.requirements.set(requirements)
    record_audit(
        "compliance.evidence.create",
        actor=actor,
        obj=evidence,
        changes={"after": snapshot(evidence), "requirements": [r.pk for r in requirements]},
    )
    record_event(
        "compliance.evidence_added",
        organization=organization,
        payload={"evidence": evidence.pk, "title": evidence.title, "kind": evidence.kind},
    )
    return evidence


@transaction.atomic
def update_evidence(evidence, *, actor, requirements=None, **data):
    """Change title, description, expiry or the requirements evidence is linked to."""
    ensure_permitted(actor, "change", evidence)
    locked = Evidence.objects.select_for_update().get(pk=evidence.pk)
    if locked.kind == EvidenceKind.CHECK_RESULT:
        raise ValidationError({"kind": "Check results are written by the checks only."})
    allowed = {"title", "description", "valid_until"}
    unknown = set(data) - allowed
    if unknown:
        raise ValidationError({sorted(unknown)[0]: "This field cannot be changed."})
    if "valid_until" in data:
        _check_validity(data["valid_until"])
    before = snapshot(locked)
    for name, value in data.items():
        setattr(locked, name, value)
    if "valid_until" in data:
        locked.expiry_flagged_at = None
    locked.full_clean()
    locked.save()
    changes = diff(before, snapshot(locked))
    if requirements is not None:
        requirements = list(requirements)
        _check_links(locked.organization, requirements, locked.assessment)
        old = sorted(locked.requirements.values_list("pk", flat=True))
        locked.requirements.set(requirements)
        new = sorted(r.pk for r in requirements)
        if old != new:
            changes["requirements"] = [old, new]
    record_audit("compliance.evidence.update", actor=actor, obj=locked, changes=changes)
    return locked


@transaction.atomic
def delete_evidence(evidence, *, actor):
    """Remove evidence; the audit entry keeps its hash, and the stored file is deleted."""
    ensure_permitted(actor, "delete", evidence)
    locked = Evidence.objects.select_for_update().get(pk=evidence.pk)
    if locked.kind == EvidenceKind.CHECK_RESULT:
        raise ValidationError({"kind": "Check results are written by the checks only."})
    record_audit(
        "compliance.evidence.delete",
        actor=actor,
        obj=locked,
        changes={"before": snapshot(locked)},
    )
    name = locked.file.name if locked.file else ""
    storage = locked.file.storage if locked.file else None
    pk = locked.pk
    locked.delete()
    if name and not Evidence.objects.filter(file=name).exists():
        transaction.on_commit(lambda: storage.delete(name))
    return pk


def record_download(evidence, *, actor):
    """Evidence files may be confidential: every download is audited."""
    record_audit(
        "compliance.evidence.download",
        actor=actor,
        obj=evidence,
        changes={"sha256": evidence.sha256, "size": evidence.size},
    )


# --- which evidence serves which requirement ---------------------------------------------------


def serving_map(requirement_ids):
    """``{requirement id: {ids whose evidence serves it}}`` (itself plus propagated mappings)."""
    ids = set(requirement_ids)
    serving = {rid: {rid} for rid in ids}
    forward = (MappingRelation.EQUIVALENT, MappingRelation.SUPERSET)
    backward = (MappingRelation.EQUIVALENT, MappingRelation.SUBSET)
    rows = RequirementMapping.objects.filter(
        Q(target_id__in=ids, relation__in=forward) | Q(source_id__in=ids, relation__in=backward)
    ).values_list("source_id", "target_id", "relation")
    for source, target, relation in rows:
        if target in ids and relation in forward:
            serving[target].add(source)
        if source in ids and relation in backward:
            serving[source].add(target)
    return serving


def evidence_for(assessment, requirement_ids=None):
    """``{requirement id: [Evidence]}`` serving each requirement of ``assessment``."""
    if requirement_ids is None:
        requirement_ids = assessment.results.values_list("requirement_id", flat=True)
    serving = serving_map(requirement_ids)
    all_ids = set().union(*serving.values()) if serving else set()
    through = Evidence.requirements.through
    links = through.objects.filter(
        requirement_id__in=all_ids,
        evidence__organization_id=assessment.organization_id,
    ).filter(Q(evidence__assessment__isnull=True) | Q(evidence__assessment_id=assessment.pk))
    by_requirement = defaultdict(list)
    evidence = {}
    for link in links.select_related("evidence"):
        by_requirement[link.requirement_id].append(link.evidence_id)
        evidence[link.evidence_id] = link.evidence
    result = {}
    for rid, sources in serving.items():
        seen = {}
        for source in sources:
            for ev_id in by_requirement.get(source, ()):
                seen[ev_id] = evidence[ev_id]
        result[rid] = sorted(seen.values(), key=lambda e: e.collected_at, reverse=True)
    return result


def evidence_state(items, at=None):
    if not items:
        return EvidenceState.NONE
    at = at or timezone.now()
    if any(e.is_current(at) for e in items):
        return EvidenceState.CURRENT
    return EvidenceState.STALE


def expired_evidence(now=None):
    """Evidence whose validity has ended and whose expiry has not been flagged yet."""
    now = now or timezone.now()
    return Evidence.objects.filter(valid_until__lte=now, expiry_flagged_at__isnull=True)


def flag_expired_evidence(*, now=None):
    """Raise one monitoring alert per newly expired piece of evidence (deduplicated by id)."""
    from devices.monitoring.services import raise_alert

    now = now or timezone.now()
    flagged = 0
    for evidence in expired_evidence(now).select_related("organization"):
        with transaction.atomic():
            locked = Evidence.objects.select_for_update().get(pk=evidence.pk)
            if locked.expiry_flagged_at is not None:
                continue
            raise_alert(
                organization=locked.organization,
                kind="compliance.evidence_expired",
                title=f"Compliance evidence expired: {locked.title}",
                severity="low" if locked.kind == EvidenceKind.CHECK_RESULT else "medium",
                dedupe_key=f"compliance.evidence_expired:{locked.pk}:{int(locked.valid_until.timestamp())}",
                details={"evidence": locked.pk, "valid_until": locked.valid_until.isoformat()},
                actor="job:compliance-evidence-expiry",
            )
            locked.expiry_flagged_at = now
            locked.save(update_fields=["expiry_flagged_at"])
            record_event(
                "compliance.evidence_expired",
                organization=locked.organization,
                payload={"evidence": locked.pk, "title": locked.title},
            )
            flagged += 1
    return flagged
