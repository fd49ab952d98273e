"""Compliance requirement references ("framework:ref") checked against the shipped catalogues.

The compliance app loads ``compliance/frameworks/*.json`` into its own models; mitigations store
the references as text so they stay valid whichever way those models evolve, and are validated
here against the same files.
"""

import json
from functools import cache
from pathlib import Path

FRAMEWORKS_DIR = Path(__file__).resolve().parent.parent / "frameworks"


@cache
def catalogue():
    """``{framework_code: {ref: title}}`` of assessable requirements in the shipped files."""
    found = {}
    for path in sorted(FRAMEWORKS_DIR.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or "requirements" not in data or "code" not in data:
            continue  # mappings.json and other non-framework files
        found[data["code"]] = {
            r["ref"]: r.get("title", "") for r in data["requirements"] if r.get("assessable")
        }
    return found


def requirement_ref_errors(refs):
    """A list of messages, one per bad reference (empty when all are known)."""
    if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
        return ['Give a list of "framework:ref" strings.']
    known = catalogue()
    errors = []
    for ref in refs:
        framework, sep, item = ref.partition(":")
        if not sep or not item:
            errors.append(f'{ref!r}: write it as "framework:ref", e.g. "etsi-en-303-645:5.3-2".')
        elif framework not in known:
            errors.append(f"{ref!r}: unknown framework {framework!r} ({', '.join(sorted(known))}).")
        elif item not in known[framework]:
            errors.append(f"{ref!r}: {framework} has no assessable requirement {item!r}.")
    if len(set(refs)) != len(refs):
        errors.append("Each requirement is listed once.")
    return errors


def requirement_title(ref):
    framework, _, item = ref.partition(":")
    return catalogue().get(framework, {}).get(item, "")
