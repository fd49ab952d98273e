"""Pins every shipped catalogue's structure, so an edit cannot silently add or drop a requirement.

The figures are written here from the published structure of each standard (the source of each
is named above its table), independently of ``compliance/frameworks/validate.py``, and checked
against what ``load_frameworks`` stored in the database.
"""

from collections import Counter

import pytest

from compliance.models import Framework, Requirement

M, R = "mandatory", "recommended"


def _items(fw):
    return list(Requirement.objects.filter(framework=fw, assessable=True).select_related("parent"))


def _per_parent(fw):
    counts = {}
    for req in _items(fw):
        m, r = counts.get(req.parent.ref, (0, 0))
        counts[req.parent.ref] = (m + (req.obligation == M), r + (req.obligation == R))
    return counts


# ETSI EN 303 645 V2.1.1 (2020-06), Table B.1 (implementation conformance statement), as
# reproduced by the Zephyr Project's EN 303 645 self-assessment and by a transcription of the
# V2.1.1 pro forma: (mandatory, recommended) per clause. 67 provisions, 32 M, 35 R; clause 5.13
# has the single provision 5.13-1 (the 5.13-1A/5.13-1B split, which would make 68/33, is V3.x).
ETSI_PER_CLAUSE = {
    "5.1": (5, 0), "5.2": (1, 2), "5.3": (7, 9), "5.4": (4, 0), "5.5": (4, 4), "5.6": (3, 6),
    "5.7": (0, 2), "5.8": (2, 1), "5.9": (0, 3), "5.10": (0, 1), "5.11": (1, 3), "5.12": (0, 3),
    "5.13": (1, 0), "6": (4, 1),
}  # fmt: skip
# The same Table B.1: provisions printed "M C" or "R C" (with their condition numbers 1-13).
# 5.3-10 is printed "M (11, 12)" / "M" in the two reproductions; we keep it conditional (see the
# catalogue's verification note). 6-3 is plain "M".
ETSI_CONDITIONAL = {
    "5.1-1", "5.1-2", "5.1-4", "5.1-5", "5.3-2", "5.3-3", "5.3-4", "5.3-5", "5.3-6", "5.3-7",
    "5.3-8", "5.3-9", "5.3-10", "5.3-11", "5.3-12", "5.3-14", "5.3-15", "5.4-2", "5.6-4",
    "5.10-1", "6-2", "6-4", "6-5",
}  # fmt: skip

# NIST CSF 2.0 (CSWP 29, February 2024), subcategories per category as in NIST's CSF 2.0
# reference tool export: 6 functions, 22 categories, 106 subcategories.
CSF_PER_CATEGORY = {
    "GV.OC": 5, "GV.RM": 7, "GV.RR": 4, "GV.PO": 2, "GV.OV": 3, "GV.SC": 10,
    "ID.AM": 7, "ID.RA": 10, "ID.IM": 4,
    "PR.AA": 6, "PR.AT": 2, "PR.DS": 4, "PR.PS": 6, "PR.IR": 4,
    "DE.CM": 5, "DE.AE": 6,
    "RS.MA": 5, "RS.AN": 4, "RS.CO": 2, "RS.MI": 2,
    "RC.RP": 6, "RC.CO": 2,
}  # fmt: skip

# ISO/IEC 27001:2022 Annex A (= ISO/IEC 27002:2022 clauses 5-8): controls per theme.
ISO_PER_THEME = {"A.5": 37, "A.6": 8, "A.7": 14, "A.8": 34}

# IEC 62443-4-2:2019, as catalogued here (CRs and EDRs with their REs; no SAR/HDR/NDR):
# base requirements and enhancements per foundational requirement. These are the file's own
# figures, NOT verified against a licensed copy of the standard (see its verification note).
IEC_PER_FR = {
    "FR 1": (12, 8), "FR 2": (12, 10), "FR 3": (14, 8), "FR 4": (3, 2),
    "FR 5": (1, 0), "FR 6": (2, 1), "FR 7": (7, 3),
}  # fmt: skip

# EN 18031-1/-2/-3:2024: requirements per security mechanism, from the requirement list of the
# Zephyr Project's EN 18031 page (which mechanisms each part uses is in the same page).
EN18031_SHARED = {"ACM": 2, "AUM": 9, "SUM": 3, "SSM": 3, "SCM": 4, "CCK": 3, "GEC": 8, "CRY": 1}
EN18031_PER_MECHANISM = {
    "en-18031-1": {**EN18031_SHARED, "RLM": 1, "NMM": 1, "TCM": 1},  # 36
    "en-18031-2": {**EN18031_SHARED, "ACM": 6, "LGM": 4, "DLM": 1, "UNM": 2},  # 44
    "en-18031-3": {**EN18031_SHARED, "LGM": 4},  # 37
}


def test_etsi_counts_per_clause_and_obligation(frameworks):
    etsi = frameworks["etsi-en-303-645"]
    assert etsi.version == "2.1.1"
    assert _per_parent(etsi) == ETSI_PER_CLAUSE
    items = _items(etsi)
    assert len(items) == 67
    assert Counter(r.obligation for r in items) == {M: 32, R: 35}


def test_etsi_conditional_flags_follow_table_b1(frameworks):
    etsi = frameworks["etsi-en-303-645"]
    assert {r.ref for r in _items(etsi) if r.conditional} == ETSI_CONDITIONAL


def test_csf_counts_per_category(frameworks):
    csf = frameworks["nist-csf"]
    assert csf.version == "2.0"
    per = Counter(r.parent.ref for r in _items(csf))
    assert dict(per) == CSF_PER_CATEGORY
    assert sum(per.values()) == 106
    tops = Requirement.objects.filter(framework=csf, parent__isnull=True)
    assert sorted(tops.values_list("ref", flat=True)) == sorted(
        ["GV", "ID", "PR", "DE", "RS", "RC"]
    )
    assert {r.obligation for r in _items(csf)} == {M}  # no M/R notion: all in scope


def test_iso_counts_per_theme(frameworks):
    iso = frameworks["iso-27001-annex-a"]
    assert iso.version == "2022"
    per = Counter(r.parent.ref for r in _items(iso))
    assert dict(per) == ISO_PER_THEME
    for theme, n in ISO_PER_THEME.items():
        refs = {r.ref for r in _items(iso) if r.parent.ref == theme}
        assert refs == {f"{theme}.{i}" for i in range(1, n + 1)}


def test_iec_counts_per_foundational_requirement(frameworks):
    iec = frameworks["iec-62443-4-2"]
    per = {}
    for req in _items(iec):
        base = req.parent if " RE(" in req.ref else req
        fr = base.parent.ref
        b, e = per.get(fr, (0, 0))
        per[fr] = (b + (" RE(" not in req.ref), e + (" RE(" in req.ref))
    assert per == IEC_PER_FR
    assert sum(b + e for b, e in per.values()) == 83


@pytest.mark.parametrize("code", sorted(EN18031_PER_MECHANISM))
def test_en18031_counts_per_mechanism(frameworks, code):
    fw = Framework.objects.get(code=code)
    assert fw.version == "2024"
    per = Counter(r.parent.ref for r in _items(fw))
    assert dict(per) == EN18031_PER_MECHANISM[code]
    assert {r.obligation for r in _items(fw)} == {M}  # the standard has no recommendations
    part2_only = {"ACM-3", "ACM-4", "ACM-5", "ACM-6"}
    has = {r.ref for r in _items(fw)} & part2_only
    assert has == (part2_only if code == "en-18031-2" else set())


def test_every_shipped_catalogue_states_its_verification(frameworks):
    for fw in Framework.objects.all():
        assert fw.verified_on is not None, fw.code
        assert fw.verification.strip(), fw.code
