#!/usr/bin/env python3
"""Validate the framework catalogue data files in this folder.

Standalone, standard library only. Usage:

    python3 compliance/frameworks/validate.py

Exits 0 when every file is valid, 1 (with one message per problem) otherwise.
"""

# ruff: noqa: UP031, E501  (a standalone, stdlib-only checker kept in its original style)
import datetime
import json
import os
import re
import sys
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))

FRAMEWORK_FILES = {
    "etsi-en-303-645": "etsi-en-303-645.json",
    "nist-csf": "nist-csf-2.0.json",
    "iec-62443-4-2": "iec-62443-4-2.json",
    "iso-27001-annex-a": "iso-27001-2022-annex-a.json",
    "en-18031-1": "en-18031-1.json",
    "en-18031-2": "en-18031-2.json",
    "en-18031-3": "en-18031-3.json",
}
MAPPINGS_FILE = "mappings.json"

TOP_LEVEL_FIELDS = {
    "code": str,
    "name": str,
    "version": str,
    "data_revision": int,
    "publisher": str,
    "url": str,
    "description": str,
    "notes": str,
    "requirements": list,
}
GROUP_FIELDS = {"ref": str, "title": str, "assessable": bool, "order": int}
ITEM_FIELDS = {
    "ref": str,
    "title": str,
    "assessable": bool,
    "order": int,
    "obligation": str,
    "conditional": bool,
    "condition": str,
    "guidance": str,
}
OBLIGATIONS = {"mandatory", "recommended"}
RELATIONS = {"equivalent", "subset", "superset", "intersect"}
EXPECTED_VERSIONS = {
    "etsi-en-303-645": "2.1.1",
    "nist-csf": "2.0",
    "iec-62443-4-2": "2019",
    "iso-27001-annex-a": "2022",
    "en-18031-1": "2024",
    "en-18031-2": "2024",
    "en-18031-3": "2024",
}
# Optional in any file; every file shipped in this folder must state them (``strict``).
PROVENANCE_FIELDS = {"verified_on": str, "verification": str}
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# EN 18031-1/-2/-3:2024: requirements per security mechanism, as listed by identifier in the
# Zephyr Project's EN 18031 page (doc/security/standards/en-18031.rst); which mechanisms each part
# uses is in the same page. ACM-3..ACM-6 (toys, childcare) are part 2 only.
EN18031_SHARED = {"ACM": 2, "AUM": 9, "SUM": 3, "SSM": 3, "SCM": 4, "CCK": 3, "GEC": 8, "CRY": 1}
EN18031_EXPECTED = {
    "en-18031-1": dict(EN18031_SHARED, RLM=1, NMM=1, TCM=1),
    "en-18031-2": dict(EN18031_SHARED, ACM=6, LGM=4, DLM=1, UNM=2),
    "en-18031-3": dict(EN18031_SHARED, LGM=4),
}
EN18031_REF_RE = re.compile(r"^[A-Z]{3}-\d+(-\d+)?$")

# ETSI EN 303 645 V2.1.1: provisions per clause as (mandatory, recommended).
# Derived from clauses 5.1-5.13 and 6 of V2.1.1 (no lettered identifiers exist in V2.1.1).
ETSI_EXPECTED_PER_CLAUSE = {
    "5.1": (5, 0),
    "5.2": (1, 2),
    "5.3": (7, 9),
    "5.4": (4, 0),
    "5.5": (4, 4),
    "5.6": (3, 6),
    "5.7": (0, 2),
    "5.8": (2, 1),
    "5.9": (0, 3),
    "5.10": (0, 1),
    "5.11": (1, 3),
    "5.12": (0, 3),
    "5.13": (1, 0),
    "6": (4, 1),
}
ETSI_EXPECTED_PROVISIONS = 67
ETSI_EXPECTED_MANDATORY = 32
ETSI_EXPECTED_RECOMMENDED = 35
ETSI_REF_RE = re.compile(r"^(5\.\d{1,2}-\d{1,2}[A-Z]?|6-\d{1,2}[A-Z]?)$")

CSF_FUNCTIONS = ["GV", "ID", "PR", "DE", "RS", "RC"]
CSF_CATEGORIES = {
    "GV.OC": 5,
    "GV.RM": 7,
    "GV.RR": 4,
    "GV.PO": 2,
    "GV.OV": 3,
    "GV.SC": 10,
    "ID.AM": 7,
    "ID.RA": 10,
    "ID.IM": 4,
    "PR.AA": 6,
    "PR.AT": 2,
    "PR.DS": 4,
    "PR.PS": 6,
    "PR.IR": 4,
    "DE.CM": 5,
    "DE.AE": 6,
    "RS.MA": 5,
    "RS.AN": 4,
    "RS.CO": 2,
    "RS.MI": 2,
    "RC.RP": 6,
    "RC.CO": 2,
}
CSF_EXPECTED_SUBCATEGORIES = 106
CSF_SUB_RE = re.compile(r"^(GV|ID|PR|DE|RS|RC)\.[A-Z]{2}-\d{2}$")

ISO_THEMES = {"A.5": 37, "A.6": 8, "A.7": 14, "A.8": 34}
ISO_EXPECTED_CONTROLS = 93

IEC_FRS = ["FR %d" % i for i in range(1, 8)]
IEC_REF_RE = re.compile(r"^(CR|EDR|HDR|NDR|SAR) \d\.\d{1,2}( RE\(\d\))?$")


class Problems:
    def __init__(self):
        self.items = []

    def add(self, where, msg):
        self.items.append(f"{where}: {msg}")


def check_fields(obj, spec, where, problems):
    for name, typ in spec.items():
        if name not in obj:
            problems.add(where, f"missing field {name!r}")
        elif not isinstance(obj[name], typ) or (typ is int and isinstance(obj[name], bool)):
            problems.add(where, f"field {name!r} should be {typ.__name__}")


def load(path, problems):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        problems.add(os.path.basename(path), "file not found")
    except (ValueError, UnicodeDecodeError) as exc:
        problems.add(os.path.basename(path), f"invalid JSON: {exc}")
    return None


def check_framework(code, data, fname, problems, strict=True, require_provenance=None):
    """Generic schema checks; returns {ref: requirement} for the file.

    ``strict`` also pins the edition shipped in this folder (``EXPECTED_VERSIONS``); the loader
    passes ``strict=False`` so a new edition file (e.g. ETSI EN 303 645 V3.x) can be loaded.
    """
    if require_provenance is None:
        require_provenance = strict
    check_fields(data, TOP_LEVEL_FIELDS, fname, problems)
    if data.get("code") != code:
        problems.add(fname, "code is {!r}, expected {!r}".format(data.get("code"), code))
    if strict and data.get("version") != EXPECTED_VERSIONS.get(code):
        problems.add(
            fname,
            "version is {!r}, expected {!r}".format(data.get("version"), EXPECTED_VERSIONS[code]),
        )
    for name, typ in PROVENANCE_FIELDS.items():
        if name in data and not isinstance(data[name], typ):
            problems.add(fname, f"field {name!r} should be {typ.__name__}")
        elif require_provenance and not (isinstance(data.get(name), str) and data[name].strip()):
            problems.add(fname, f"missing field {name!r} (shipped catalogues state their check)")
    if isinstance(data.get("verified_on"), str) and data["verified_on"]:
        try:
            if not DATE_RE.match(data["verified_on"]):
                raise ValueError
            datetime.date.fromisoformat(data["verified_on"])
        except ValueError:
            problems.add(fname, "verified_on must be a date YYYY-MM-DD")
    rev = data.get("data_revision")
    if isinstance(rev, int) and rev < 1:
        problems.add(fname, "data_revision must be >= 1")
    reqs = data.get("requirements")
    if not isinstance(reqs, list):
        return {}
    by_ref = {}
    last_order = None
    for i, req in enumerate(reqs):
        where = "%s requirements[%d]" % (fname, i)
        if not isinstance(req, dict):
            problems.add(where, "not an object")
            continue
        ref = req.get("ref")
        if isinstance(ref, str):
            where = f"{fname} {ref}"
        if "parent" not in req:
            problems.add(where, "missing field 'parent'")
        elif req["parent"] is not None and not isinstance(req["parent"], str):
            problems.add(where, "parent must be a string or null")
        assessable = req.get("assessable")
        check_fields(req, ITEM_FIELDS if assessable is True else GROUP_FIELDS, where, problems)
        if assessable is True:
            if req.get("obligation") not in OBLIGATIONS:
                problems.add(where, f"obligation must be one of {sorted(OBLIGATIONS)}")
            cond, text = req.get("conditional"), req.get("condition")
            if cond is True and not (isinstance(text, str) and text.strip()):
                problems.add(where, "conditional is true but condition is empty")
            if cond is False and text not in ("", None):
                problems.add(where, "condition given but conditional is false")
            if not (isinstance(req.get("guidance"), str) and req["guidance"].strip()):
                problems.add(where, "guidance is empty")
            if code == "iec-62443-4-2" or "security_level" in req:
                sl = req.get("security_level")
                if not isinstance(sl, int) or isinstance(sl, bool) or not 1 <= sl <= 4:
                    problems.add(where, "security_level must be an integer 1-4")
        sup = req.get("supersedes")
        if sup is not None and not (
            isinstance(sup, list) and all(isinstance(x, str) and x.strip() for x in sup)
        ):
            problems.add(where, "supersedes must be a list of refs of the previous version")
        if isinstance(req.get("title"), str) and not req["title"].strip():
            problems.add(where, "title is empty")
        order = req.get("order")
        if isinstance(order, int) and not isinstance(order, bool):
            if last_order is not None and order <= last_order:
                problems.add(
                    where, "order %d is not greater than previous %d" % (order, last_order)
                )
            last_order = order
        if isinstance(ref, str):
            if ref in by_ref:
                problems.add(where, "duplicate ref")
            else:
                by_ref[ref] = req
    # parents must exist and appear earlier in the list
    position = {req.get("ref"): i for i, req in enumerate(reqs) if isinstance(req, dict)}
    for i, req in enumerate(reqs):
        if not isinstance(req, dict):
            continue
        parent = req.get("parent")
        if isinstance(parent, str):
            if parent not in by_ref:
                problems.add(
                    "{} {}".format(fname, req.get("ref")), f"parent {parent!r} does not exist"
                )
            elif position[parent] >= i:
                problems.add(
                    "{} {}".format(fname, req.get("ref")),
                    f"parent {parent!r} appears after its child",
                )
    return by_ref


def assessable(by_ref):
    return {r: q for r, q in by_ref.items() if q.get("assessable") is True}


def check_etsi(by_ref, fname, problems):
    items = assessable(by_ref)
    for ref in items:
        if not ETSI_REF_RE.match(ref):
            problems.add(fname, f"unexpected provision identifier {ref!r}")
    if len(items) != ETSI_EXPECTED_PROVISIONS:
        problems.add(fname, "%d provisions, expected %d" % (len(items), ETSI_EXPECTED_PROVISIONS))
    per_clause = {}
    for ref, req in items.items():
        m, r = per_clause.get(req.get("parent"), (0, 0))
        if req.get("obligation") == "mandatory":
            m += 1
        else:
            r += 1
        per_clause[req.get("parent")] = (m, r)
        clause = ref.split("-")[0]
        if req.get("parent") != clause:
            problems.add(fname, f"{ref} should have parent {clause!r}")
    for clause, expected in ETSI_EXPECTED_PER_CLAUSE.items():
        if clause not in by_ref:
            problems.add(fname, f"clause group {clause!r} missing")
        got = per_clause.get(clause, (0, 0))
        if got != expected:
            problems.add(
                fname,
                "clause %s has %d M / %d R provisions, expected %d M / %d R"
                % (clause, got[0], got[1], expected[0], expected[1]),
            )
    mandatory = sum(1 for q in items.values() if q.get("obligation") == "mandatory")
    if mandatory != ETSI_EXPECTED_MANDATORY or len(items) - mandatory != ETSI_EXPECTED_RECOMMENDED:
        problems.add(
            fname,
            "%d mandatory / %d recommended, expected %d / %d"
            % (
                mandatory,
                len(items) - mandatory,
                ETSI_EXPECTED_MANDATORY,
                ETSI_EXPECTED_RECOMMENDED,
            ),
        )


def check_csf(by_ref, fname, problems):
    for fn in CSF_FUNCTIONS:
        node = by_ref.get(fn)
        if node is None or node.get("assessable") is not False or node.get("parent") is not None:
            problems.add(fname, f"function {fn} missing or not a top-level group")
    cats = [r for r, q in by_ref.items() if q.get("assessable") is False and "." in r]
    if sorted(cats) != sorted(CSF_CATEGORIES):
        problems.add(
            fname,
            f"categories {sorted(set(cats) ^ set(CSF_CATEGORIES))} differ from the 22 expected",
        )
    for cat in CSF_CATEGORIES:
        node = by_ref.get(cat)
        if node is not None and node.get("parent") != cat.split(".")[0]:
            problems.add(fname, "category {} should have parent {}".format(cat, cat.split(".")[0]))
    items = assessable(by_ref)
    if len(items) != CSF_EXPECTED_SUBCATEGORIES:
        problems.add(
            fname, "%d subcategories, expected %d" % (len(items), CSF_EXPECTED_SUBCATEGORIES)
        )
    counts = Counter()
    for ref, req in items.items():
        if not CSF_SUB_RE.match(ref):
            problems.add(fname, f"unexpected subcategory identifier {ref!r}")
        if req.get("parent") != ref.split("-")[0]:
            problems.add(fname, "{} should have parent {}".format(ref, ref.split("-")[0]))
        counts[req.get("parent")] += 1
    for cat, n in CSF_CATEGORIES.items():
        if counts.get(cat, 0) != n:
            problems.add(
                fname,
                "category %s has %d subcategories, expected %d" % (cat, counts.get(cat, 0), n),
            )


def check_iso(by_ref, fname, problems):
    items = assessable(by_ref)
    if len(items) != ISO_EXPECTED_CONTROLS:
        problems.add(fname, "%d controls, expected %d" % (len(items), ISO_EXPECTED_CONTROLS))
    for theme, n in ISO_THEMES.items():
        if theme not in by_ref:
            problems.add(fname, f"theme group {theme} missing")
        expected = {"%s.%d" % (theme, i) for i in range(1, n + 1)}
        got = {r for r, q in items.items() if q.get("parent") == theme}
        if got != expected:
            problems.add(
                fname,
                f"theme {theme} controls differ: missing {sorted(expected - got)}, unexpected {sorted(got - expected)}",
            )


def check_iec(by_ref, fname, problems):
    for fr in IEC_FRS:
        node = by_ref.get(fr)
        if node is None or node.get("assessable") is not False:
            problems.add(fname, f"foundational requirement {fr} missing or not a group")
    for ref, req in assessable(by_ref).items():
        if not IEC_REF_RE.match(ref):
            problems.add(fname, f"unexpected requirement identifier {ref!r}")
            continue
        if " RE(" in ref:
            base = ref.split(" RE(")[0]
            if req.get("parent") != base:
                problems.add(fname, f"{ref} should have parent {base}")
            parent = by_ref.get(base, {})
            if (
                isinstance(parent.get("security_level"), int)
                and isinstance(req.get("security_level"), int)
                and req["security_level"] < parent["security_level"]
            ):
                problems.add(fname, f"{ref} applies at a lower SL than its base requirement")
        else:
            fr = "FR " + ref.split(" ")[1].split(".")[0]
            if req.get("parent") != fr:
                problems.add(fname, f"{ref} should have parent {fr}")


def check_en18031(by_ref, fname, problems, code=None):
    expected = EN18031_EXPECTED[code]
    got = Counter()
    for ref, req in assessable(by_ref).items():
        if not EN18031_REF_RE.match(ref):
            problems.add(fname, f"unexpected requirement identifier {ref!r}")
        mech = ref.split("-")[0]
        if req.get("parent") != mech:
            problems.add(fname, f"{ref} should have parent {mech}")
        if req.get("obligation") != "mandatory":
            problems.add(fname, f"{ref}: every EN 18031 requirement is mandatory")
        got[mech] += 1
    for mech in expected:
        node = by_ref.get(mech)
        if node is None or node.get("assessable") is not False:
            problems.add(fname, f"mechanism group {mech} missing or not a group")
    if dict(got) != expected:
        problems.add(
            fname,
            f"requirements per mechanism {dict(sorted(got.items()))}, expected {dict(sorted(expected.items()))}",
        )


SPECIFIC = {
    "en-18031-1": lambda b, f, p: check_en18031(b, f, p, "en-18031-1"),
    "en-18031-2": lambda b, f, p: check_en18031(b, f, p, "en-18031-2"),
    "en-18031-3": lambda b, f, p: check_en18031(b, f, p, "en-18031-3"),
    "etsi-en-303-645": check_etsi,
    "nist-csf": check_csf,
    "iso-27001-annex-a": check_iso,
    "iec-62443-4-2": check_iec,
}


def check_mappings(data, refs, problems):
    fname = MAPPINGS_FILE
    if not isinstance(data, list):
        problems.add(fname, "must be a JSON list")
        return
    seen = set()
    for i, m in enumerate(data):
        where = "%s[%d]" % (fname, i)
        if not isinstance(m, dict):
            problems.add(where, "not an object")
            continue
        for side in ("from", "to"):
            end = m.get(side)
            if (
                not isinstance(end, dict)
                or not isinstance(end.get("framework"), str)
                or not isinstance(end.get("ref"), str)
            ):
                problems.add(where, f"{side!r} must be {{framework, ref}}")
                continue
            if end["framework"] not in refs:
                problems.add(where, "{} framework {!r} unknown".format(side, end["framework"]))
            elif end["ref"] not in refs[end["framework"]]:
                problems.add(
                    where, "{} ref {!r} not in {}".format(side, end["ref"], end["framework"])
                )
        if m.get("relation") not in RELATIONS:
            problems.add(where, f"relation must be one of {sorted(RELATIONS)}")
        if not (isinstance(m.get("note"), str) and m["note"].strip()):
            problems.add(where, "note is empty")
        try:
            key = (m["from"]["framework"], m["from"]["ref"], m["to"]["framework"], m["to"]["ref"])
        except (KeyError, TypeError):
            continue
        if key[0] == key[2]:
            problems.add(where, "mapping within a single framework")
        if key in seen:
            problems.add(where, f"duplicate mapping {key}")
        seen.add(key)
    if len(data) < 60:
        problems.add(fname, "only %d mappings, expected at least 60" % len(data))


def main():
    problems = Problems()
    refs = {}
    summary = []
    for code, fname in FRAMEWORK_FILES.items():
        data = load(os.path.join(HERE, fname), problems)
        if not isinstance(data, dict):
            if data is not None:
                problems.add(fname, "top level must be an object")
            continue
        by_ref = check_framework(code, data, fname, problems)
        SPECIFIC[code](by_ref, fname, problems)
        # mappings may point at assessable items only
        refs[code] = set(assessable(by_ref))
        summary.append(
            "%s: %d groups, %d assessable" % (fname, len(by_ref) - len(refs[code]), len(refs[code]))
        )
    mappings = load(os.path.join(HERE, MAPPINGS_FILE), problems)
    if mappings is not None:
        check_mappings(mappings, refs, problems)
        summary.append(
            "%s: %d mappings" % (MAPPINGS_FILE, len(mappings) if isinstance(mappings, list) else 0)
        )
    if problems.items:
        for p in problems.items:
            print("ERROR " + p, file=sys.stderr)
        print("%d problem(s) found" % len(problems.items), file=sys.stderr)
        return 1
    for line in summary:
        print(line)
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
