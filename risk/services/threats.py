"""The shipped threat catalogue: load (idempotent, versioned) from ``data/threats.json``."""

import json
from pathlib import Path

from django.db import transaction

from ..choices import SecurityObjective, Stride
from ..models import Threat
from .common import ValidationError, record, snapshot

CATALOGUE_FILE = Path(__file__).resolve().parent.parent / "data" / "threats.json"
OBJECTIVES = tuple(SecurityObjective.values)


def read_catalogue(path=CATALOGUE_FILE):
    """Parse and check the catalogue file; raise ``ValidationError`` listing every problem."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    errors = []
    version = data.get("version")
    if not isinstance(version, int) or version < 1:
        errors.append("version: a positive whole number is required.")
    seen = set()
    for index, item in enumerate(data.get("threats") or [], start=1):
        code = item.get("code")
        if not code or code in seen:
            errors.append(f"threats[{index}]: code missing or repeated ({code!r}).")
        seen.add(code)
        if item.get("stride") not in Stride.values:
            errors.append(f"threats[{index}] ({code}): stride {item.get('stride')!r} is unknown.")
        if not set(item.get("objectives") or []) <= set(OBJECTIVES):
            errors.append(f"threats[{index}] ({code}): unknown objective.")
        if not item.get("name"):
            errors.append(f"threats[{index}] ({code}): name is required.")
    if not seen:
        errors.append("threats: the catalogue is empty.")
    if errors:
        raise ValidationError({"catalogue": errors})
    return data


@transaction.atomic
def load_threat_catalogue(*, actor="command:load_threats", path=CATALOGUE_FILE):
    """Create or update the shipped threats; returns ``(created, updated, unchanged)``.

    Running it twice changes nothing. A row is rewritten only when the file's version is at
    least the one that shipped it; threats dropped from the file stay (risks may cite them).
    """
    data = read_catalogue(path)
    version = data["version"]
    created = updated = unchanged = 0
    current = {
        t.code: t for t in Threat.objects.select_for_update().filter(organization__isnull=True)
    }
    for item in data["threats"]:
        values = {
            "name": item["name"],
            "description": item.get("description", ""),
            "stride": item["stride"],
            **{o: o in item.get("objectives", []) for o in OBJECTIVES},
        }
        threat = current.get(item["code"])
        if threat is None:
            threat = Threat(organization=None, code=item["code"], catalogue_version=version)
            for name, value in values.items():
                setattr(threat, name, value)
            threat.full_clean(validate_constraints=False)
            threat.save()
            record("create", threat, actor=actor, event=False)
            created += 1
            continue
        if (threat.catalogue_version or 0) > version:
            unchanged += 1
            continue
        before = snapshot(threat)
        for name, value in values.items():
            setattr(threat, name, value)
        threat.catalogue_version = version
        if snapshot(threat) == before:
            unchanged += 1
            continue
        threat.save()
        record("update", threat, actor=actor, before=before, event=False)
        updated += 1
    return created, updated, unchanged
