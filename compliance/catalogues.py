"""What other apps may read of the shipped framework catalogues, without touching their files.

The catalogues are ``compliance/frameworks/*.json`` (loaded into the compliance models by
``manage.py load_frameworks``); apps that refer to requirements by text (the risk register's
mitigations store ``"framework:ref"``) validate those references against this function.
"""

import json
from functools import cache
from pathlib import Path

FRAMEWORKS_DIR = Path(__file__).resolve().parent / "frameworks"


@cache
def assessable_requirements():
    """``{framework_code: {ref: title}}`` of the assessable requirements in the shipped files."""
    found = {}
    for path in sorted(FRAMEWORKS_DIR.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or "requirements" not in data or "code" not in data:
            continue  # mappings.json and other non-framework files
        found[data["code"]] = {
            r["ref"]: r.get("title", "") for r in data["requirements"] if r.get("assessable")
        }
    return found
