"""CVSS v3.x base metrics: parse and validate a vector string, compute its base score and rating.

Implements the base-score equations of the CVSS v3.1 specification (section 7.1 and Appendix A
"Roundup"). v3.0 vectors are accepted and scored with the same equations (v3.1 changed only the
rounding helper, whose results agree for all base vectors).
"""

import math
import re
from decimal import Decimal

from .choices import CvssSeverity

PREFIX_RE = re.compile(r"^CVSS:3\.[01]$")

BASE_METRICS = {
    "AV": {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2},
    "AC": {"L": 0.77, "H": 0.44},
    "PR": {"N": 0.85, "L": 0.62, "H": 0.27},
    "UI": {"N": 0.85, "R": 0.62},
    "S": {"U": None, "C": None},
    "C": {"H": 0.56, "L": 0.22, "N": 0.0},
    "I": {"H": 0.56, "L": 0.22, "N": 0.0},
    "A": {"H": 0.56, "L": 0.22, "N": 0.0},
}
# Temporal and environmental metrics are allowed in a vector but do not change the base score.
OTHER_METRICS = {
    "E": "XUPFH",
    "RL": "XOTWU",
    "RC": "XURC",
    "CR": "XLMH",
    "IR": "XLMH",
    "AR": "XLMH",
    "MAV": "XNALP",
    "MAC": "XLH",
    "MPR": "XNLH",
    "MUI": "XNR",
    "MS": "XUC",
    "MC": "XNLH",
    "MI": "XNLH",
    "MA": "XNLH",
}
PR_CHANGED = {"N": 0.85, "L": 0.68, "H": 0.5}


class CvssError(ValueError):
    """The vector string is not a valid CVSS v3.x vector; the message says why."""


def parse_vector(vector):
    """``{"AV": "N", ...}`` for a valid vector; raise ``CvssError`` naming the problem."""
    parts = (vector or "").strip().split("/")
    if not parts or not PREFIX_RE.match(parts[0]):
        raise CvssError("A CVSS vector starts with CVSS:3.1/ (or CVSS:3.0/).")
    metrics = {}
    for part in parts[1:]:
        name, sep, value = part.partition(":")
        if not sep or not name or not value:
            raise CvssError(f"{part!r} is not a metric:value pair.")
        if name in metrics:
            raise CvssError(f"Metric {name} appears twice.")
        allowed = BASE_METRICS.get(name) or OTHER_METRICS.get(name)
        if allowed is None:
            raise CvssError(f"Unknown metric {name}.")
        if value not in allowed or len(value) != 1:
            raise CvssError(f"{name}:{value} is not a valid value for {name}.")
        metrics[name] = value
    missing = [m for m in BASE_METRICS if m not in metrics]
    if missing:
        raise CvssError(f"Missing base metric(s): {', '.join(missing)}.")
    return metrics


def roundup(value):
    """The smallest number with one decimal place that is >= value (CVSS v3.1 Appendix A)."""
    int_input = round(value * 100000)
    if int_input % 10000 == 0:
        return int_input / 100000.0
    return (math.floor(int_input / 10000) + 1) / 10.0


def base_score(vector):
    """The base score (0.0-10.0, as a ``Decimal`` with one place) of a CVSS v3.x vector."""
    m = parse_vector(vector)
    changed = m["S"] == "C"
    iss = 1 - (
        (1 - BASE_METRICS["C"][m["C"]])
        * (1 - BASE_METRICS["I"][m["I"]])
        * (1 - BASE_METRICS["A"][m["A"]])
    )
    impact = 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15 if changed else 6.42 * iss
    pr = (PR_CHANGED if changed else BASE_METRICS["PR"])[m["PR"]]
    exploitability = (
        8.22
        * BASE_METRICS["AV"][m["AV"]]
        * BASE_METRICS["AC"][m["AC"]]
        * pr
        * BASE_METRICS["UI"][m["UI"]]
    )
    if impact <= 0:
        return Decimal("0.0")
    total = 1.08 * (impact + exploitability) if changed else impact + exploitability
    return Decimal(str(roundup(min(total, 10))))


def severity_for(score):
    """The qualitative rating of a base score: none / low / medium / high / critical."""
    if score is None:
        return CvssSeverity.NONE
    score = Decimal(str(score))
    if score == 0:
        return CvssSeverity.NONE
    if score < 4:
        return CvssSeverity.LOW
    if score < 7:
        return CvssSeverity.MEDIUM
    if score < 9:
        return CvssSeverity.HIGH
    return CvssSeverity.CRITICAL
