"""The risk matrix as data: validate a definition, look a level up in its grid.

A definition is a dict (stored in ``RiskMatrix.definition``, shipped default in
``data/risk-matrix-5x5.json``)::

    {"likelihood": [{"value": 1, "label": "Rare", "description": "..."}, ...],
     "impact":     [{"value": 1, "label": "Negligible", ...}, ...],
     "levels":     [{"code": "low", "label": "Low", "colour": "#2da44e"}, ...],   # least first
     "grid":       [["low", "low", ...], ...]}   # grid[likelihood - 1][impact - 1] = level code

Likelihood and impact values are 1..N in order; levels are listed from least to most severe, and
that order ranks them (for "residual must not exceed inherent" and sorting).
"""

import json
import re
from functools import cache
from pathlib import Path

from encompass.exceptions import ValidationError

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_MATRIX_FILE = DATA_DIR / "risk-matrix-5x5.json"
COLOUR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
CODE_RE = re.compile(r"^[a-z][a-z0-9_-]{0,29}$")
MIN_SIZE, MAX_SIZE = 2, 10


@cache
def _default_definition_text():
    return DEFAULT_MATRIX_FILE.read_text(encoding="utf-8")


def default_definition():
    """A fresh copy of the shipped 5×5 definition (without the file's name/description keys)."""
    data = json.loads(_default_definition_text())
    return {k: data[k] for k in ("likelihood", "impact", "levels", "grid")}


def default_name():
    return json.loads(_default_definition_text())["name"]


def _scale_errors(name, scale):
    if not isinstance(scale, list) or not (MIN_SIZE <= len(scale) <= MAX_SIZE):
        return [f"{name}: give a list of {MIN_SIZE} to {MAX_SIZE} levels."]
    errors = []
    for index, item in enumerate(scale, start=1):
        if not isinstance(item, dict):
            errors.append(f"{name}[{index}]: must be an object with value and label.")
            continue
        if item.get("value") != index:
            errors.append(f"{name}[{index}]: value must be {index} (values run 1..N in order).")
        label = item.get("label")
        if not isinstance(label, str) or not label.strip():
            errors.append(f"{name}[{index}]: label is required.")
        if not isinstance(item.get("description", ""), str):
            errors.append(f"{name}[{index}]: description must be text.")
    return errors


def validate_definition(definition):
    """Raise ``ValidationError({"definition": [...]})`` listing every problem, or return it."""
    if not isinstance(definition, dict):
        raise ValidationError({"definition": "The matrix definition must be a JSON object."})
    errors = []
    unknown = set(definition) - {"likelihood", "impact", "levels", "grid"}
    if unknown:
        errors.append(f"Unknown key(s): {', '.join(sorted(unknown))}.")
    likelihood = definition.get("likelihood")
    impact = definition.get("impact")
    errors += _scale_errors("likelihood", likelihood)
    errors += _scale_errors("impact", impact)
    levels = definition.get("levels")
    codes = []
    if not isinstance(levels, list) or not (1 <= len(levels) <= MAX_SIZE):
        errors.append(f"levels: give a list of 1 to {MAX_SIZE} risk levels, least severe first.")
    else:
        for index, level in enumerate(levels, start=1):
            if not isinstance(level, dict):
                errors.append(f"levels[{index}]: must be an object with code, label and colour.")
                continue
            code = level.get("code")
            if not isinstance(code, str) or not CODE_RE.match(code):
                errors.append(
                    f"levels[{index}]: code must be 1-30 lowercase letters, digits, - or _."
                )
            elif code in codes:
                errors.append(f"levels[{index}]: code {code!r} is used twice.")
            else:
                codes.append(code)
            if not isinstance(level.get("label"), str) or not level.get("label", "").strip():
                errors.append(f"levels[{index}]: label is required.")
            if not isinstance(level.get("colour"), str) or not COLOUR_RE.match(level["colour"]):
                errors.append(f"levels[{index}]: colour must be #rrggbb.")
    grid = definition.get("grid")
    if isinstance(likelihood, list) and isinstance(impact, list):
        if not isinstance(grid, list) or len(grid) != len(likelihood):
            errors.append(f"grid: must have one row per likelihood level ({len(likelihood)}).")
        else:
            for row_index, row in enumerate(grid, start=1):
                if not isinstance(row, list) or len(row) != len(impact):
                    errors.append(
                        f"grid row {row_index}: must have one cell per impact level "
                        f"({len(impact)})."
                    )
                    continue
                for col_index, cell in enumerate(row, start=1):
                    if cell not in codes:
                        errors.append(
                            f"grid[{row_index}][{col_index}]: {cell!r} is not a defined level."
                        )
    if errors:
        raise ValidationError({"definition": errors})
    return definition


def _definition(matrix):
    return matrix.definition if hasattr(matrix, "definition") else matrix


def check_point(matrix, likelihood, impact, *, fields=("likelihood", "impact")):
    """Raise a field-named ``ValidationError`` unless both values are on the matrix's scales."""
    definition = _definition(matrix)
    errors = {}
    for field, value, scale in (
        (fields[0], likelihood, definition["likelihood"]),
        (fields[1], impact, definition["impact"]),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= len(scale):
            errors[field] = f"Must be a whole number from 1 to {len(scale)}."
    if errors:
        raise ValidationError(errors)


def level_for(matrix, likelihood, impact):
    """The risk level code of the grid cell (likelihood, impact) of ``matrix``.

    ``matrix`` is a ``RiskMatrix`` or a definition dict. Values outside the scales raise a
    ``ValidationError`` naming ``likelihood`` / ``impact``.
    """
    check_point(matrix, likelihood, impact)
    return _definition(matrix)["grid"][likelihood - 1][impact - 1]


def level_rank(matrix, code):
    """Position of a level code in the matrix (0 = least severe); -1 when unknown/empty."""
    for index, level in enumerate(_definition(matrix)["levels"]):
        if level["code"] == code:
            return index
    return -1


def level_info(matrix, code):
    """The level dict (code, label, colour) for ``code``, or a neutral placeholder."""
    for level in _definition(matrix)["levels"]:
        if level["code"] == code:
            return level
    return {"code": code or "", "label": code or "—", "colour": "#d0d7de"}
