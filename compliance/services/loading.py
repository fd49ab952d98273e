"""Loading and upgrading the framework catalogues from their JSON data files.

``load_catalogue()`` validates every file first (with ``compliance/frameworks/validate.py``); a
single problem aborts the whole load and nothing is written. Then, per framework file:

* not in the database yet -> created;
* a newer ``data_revision`` -> titles, flags and texts updated, new requirements added, and
  requirements the new file no longer lists marked withdrawn (never deleted: assessments keep
  their results);
* the same or an older revision -> left alone.

Mappings (``mappings.json``) are then synchronised against the loaded requirements.
"""

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from encompass.audit.services import record_audit
from encompass.exceptions import ValidationError

from ..frameworks import validate as checker
from ..models import Framework, Requirement, RequirementMapping

DATA_DIR = Path(__file__).resolve().parent.parent / "frameworks"
MAPPINGS_FILE = checker.MAPPINGS_FILE
FRAMEWORK_FIELDS = ("name", "publisher", "url", "description", "notes", "verification")
REQUIREMENT_DEFAULTS = {
    "title": "",
    "assessable": False,
    "order": 0,
    "conditional": False,
    "condition": "",
    "guidance": "",
}


class FrameworkDataError(ValidationError):
    """A catalogue file is invalid; ``problems`` lists every problem found (nothing was loaded)."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__({"file": self.problems})


@dataclass
class LoadReport:
    created: list = field(default_factory=list)  # "code version rN"
    upgraded: list = field(default_factory=list)
    unchanged: list = field(default_factory=list)
    requirements_added: int = 0
    requirements_updated: int = 0
    requirements_withdrawn: int = 0
    mappings_added: int = 0
    mappings_removed: int = 0

    def lines(self):
        out = [f"created {x}" for x in self.created]
        out += [f"upgraded {x}" for x in self.upgraded]
        out += [f"up to date {x}" for x in self.unchanged]
        out.append(
            f"requirements: {self.requirements_added} added, {self.requirements_updated} updated, "
            f"{self.requirements_withdrawn} withdrawn; mappings: {self.mappings_added} added, "
            f"{self.mappings_removed} removed"
        )
        return out


def _read(path, problems):
    data = checker.load(str(path), problems)
    return data


def framework_files(directory=None):
    directory = Path(directory or DATA_DIR)
    return sorted(p for p in directory.glob("*.json") if p.name != MAPPINGS_FILE)


def validate_files(paths, mappings_path=None):
    """Parse and check every file; return ``[(path, data)]`` and the mappings, or raise."""
    problems = checker.Problems()
    parsed = []
    refs = {}
    for path in paths:
        data = _read(path, problems)
        if data is None:
            continue
        if not isinstance(data, dict) or not isinstance(data.get("code"), str):
            problems.add(path.name, "top level must be an object with a string 'code'")
            continue
        code = data["code"]
        shipped = path.resolve().parent == DATA_DIR
        by_ref = checker.check_framework(
            code, data, path.name, problems, strict=False, require_provenance=shipped
        )
        specific = checker.SPECIFIC.get(code)
        if (
            specific is not None
            and shipped
            and data.get("version") == checker.EXPECTED_VERSIONS.get(code)
        ):
            # The files we ship are also held to their standard's structure (counts, flags).
            specific(by_ref, path.name, problems)
        refs.setdefault(code, set()).update(checker.assessable(by_ref))
        parsed.append((path, data))
    mappings = None
    if mappings_path is not None and Path(mappings_path).exists():
        mappings = _read(mappings_path, problems)
        if mappings is not None:
            known = dict(refs)
            for code, ref in Requirement.objects.filter(
                assessable=True, withdrawn_in_revision__isnull=True
            ).values_list("framework__code", "ref"):
                known.setdefault(code, set()).add(ref)
            checker.check_mappings(mappings, known, problems)
    if problems.items:
        raise FrameworkDataError(problems.items)
    return parsed, mappings


def _depths(items):
    depth = {}
    for item in items:
        parent = item.get("parent")
        depth[item["ref"]] = depth[parent] + 1 if parent in depth else 0
    return depth


def _apply_framework(data, path, report, now):
    code, version, revision = data["code"], data["version"], data["data_revision"]
    label = f"{code} {version} r{revision}"
    framework = Framework.objects.select_for_update().filter(code=code, version=version).first()
    if framework is not None and framework.data_revision >= revision:
        report.unchanged.append(f"{code} {version} r{framework.data_revision}")
        return None
    created = framework is None
    values = {name: data.get(name, "") for name in FRAMEWORK_FIELDS}
    values["verified_on"] = (
        date.fromisoformat(data["verified_on"]) if data.get("verified_on") else None
    )
    if created:
        framework = Framework.objects.create(
            code=code,
            version=version,
            data_revision=revision,
            source_file=path.name,
            loaded_at=now,
            **values,
        )
    else:
        previous = framework.data_revision
        for name, value in values.items():
            setattr(framework, name, value)
        framework.data_revision = revision
        framework.source_file = path.name
        framework.loaded_at = now
        framework.save()
    existing = {r.ref: r for r in Requirement.objects.filter(framework=framework)}
    depth = _depths(data["requirements"])
    seen = {}
    for item in data["requirements"]:
        fields = {name: item.get(name, default) for name, default in REQUIREMENT_DEFAULTS.items()}
        fields["obligation"] = item.get("obligation", "") if item["assessable"] else ""
        fields["security_level"] = item.get("security_level")
        fields["supersedes"] = list(item.get("supersedes") or [])
        fields["depth"] = depth[item["ref"]]
        fields["withdrawn_in_revision"] = None
        row = existing.get(item["ref"])
        if row is None:
            row = Requirement.objects.create(framework=framework, ref=item["ref"], **fields)
            report.requirements_added += 1
        else:
            changed = [n for n, v in fields.items() if getattr(row, n) != v]
            if changed:
                for name in changed:
                    setattr(row, name, fields[name])
                row.save(update_fields=changed)
                report.requirements_updated += 1
        seen[item["ref"]] = row
    for item in data["requirements"]:
        row = seen[item["ref"]]
        parent = seen.get(item.get("parent")) if item.get("parent") else None
        if row.parent_id != (parent.pk if parent else None):
            row.parent = parent
            row.save(update_fields=["parent"])
    gone = [r.pk for ref, r in existing.items() if ref not in seen and not r.withdrawn]
    if gone:
        Requirement.objects.filter(pk__in=gone).update(withdrawn_in_revision=revision)
        report.requirements_withdrawn += len(gone)
    if created:
        report.created.append(label)
    else:
        report.upgraded.append(f"{code} {version} r{previous} -> r{revision}")
    return framework


def _latest_requirements():
    """``{(code, ref): Requirement}`` of the newest loaded version of each framework."""
    newest = {}
    for fw in Framework.objects.all():
        if fw.code not in newest or fw.loaded_at > newest[fw.code].loaded_at:
            newest[fw.code] = fw
    rows = Requirement.objects.filter(
        framework__in=newest.values(), assessable=True, withdrawn_in_revision__isnull=True
    ).select_related("framework")
    return {(r.framework.code, r.ref): r for r in rows}


def _apply_mappings(mappings, report):
    index = _latest_requirements()
    wanted = {}
    for m in mappings:
        source = index.get((m["from"]["framework"], m["from"]["ref"]))
        target = index.get((m["to"]["framework"], m["to"]["ref"]))
        if source is None or target is None:
            continue  # a framework of the mapping is not loaded
        wanted[(source.pk, target.pk)] = (m["relation"], m["note"])
    current = {(m.source_id, m.target_id): m for m in RequirementMapping.objects.all()}
    for key, (relation, note) in wanted.items():
        row = current.get(key)
        if row is None:
            RequirementMapping.objects.create(
                source_id=key[0], target_id=key[1], relation=relation, note=note
            )
            report.mappings_added += 1
        elif (row.relation, row.note) != (relation, note):
            row.relation, row.note = relation, note
            row.save(update_fields=["relation", "note"])
    stale = [m.pk for key, m in current.items() if key not in wanted]
    if stale:
        RequirementMapping.objects.filter(pk__in=stale).delete()
        report.mappings_removed += len(stale)


@transaction.atomic
def load_catalogue(paths=None, *, mappings_path=None, actor="command:load_frameworks"):
    """Validate then load framework files (default: every file shipped in the app)."""
    if paths is None:
        paths = framework_files()
        if mappings_path is None:
            mappings_path = DATA_DIR / MAPPINGS_FILE
    paths = [Path(p) for p in paths]
    parsed, mappings = validate_files(paths, mappings_path)
    report = LoadReport()
    now = timezone.now()
    for path, data in parsed:
        framework = _apply_framework(data, path, report, now)
        if framework is not None:
            record_audit(
                "compliance.framework.load",
                actor=actor,
                obj=framework,
                organization=None,
                changes={"revision": framework.data_revision, "file": path.name},
            )
    if mappings is not None:
        _apply_mappings(mappings, report)
    return report


def catalogue_loaded():
    return Framework.objects.exists()
