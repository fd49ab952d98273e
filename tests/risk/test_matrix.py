import copy

import pytest

from encompass.exceptions import ValidationError
from risk.matrix import default_definition, level_for, validate_definition

GRID = default_definition()["grid"]


@pytest.mark.parametrize(
    ("likelihood", "impact", "level"),
    [
        (1, 1, "low"),
        (1, 5, "medium"),
        (3, 3, "medium"),
        (4, 3, "high"),
        (5, 4, "critical"),
        (5, 5, "critical"),
        (5, 1, "medium"),
        (2, 5, "high"),
    ],
)
def test_default_grid_lookup(likelihood, impact, level):
    assert level_for(default_definition(), likelihood, impact) == level


def test_every_cell_reads_its_own_row_and_column():
    definition = default_definition()
    for li, row in enumerate(definition["grid"], start=1):
        for ii, cell in enumerate(row, start=1):
            assert level_for(definition, li, ii) == cell


def test_lookup_outside_the_scales_names_the_field():
    with pytest.raises(ValidationError) as exc:
        level_for(default_definition(), 6, 0)
    assert set(exc.value.message_dict) == {"likelihood", "impact"}


def test_custom_3x4_matrix_lookup_is_not_square():
    definition = {
        "likelihood": [{"value": i, "label": f"L{i}"} for i in (1, 2, 3)],
        "impact": [{"value": i, "label": f"I{i}"} for i in (1, 2, 3, 4)],
        "levels": [
            {"code": "ok", "label": "OK", "colour": "#00aa00"},
            {"code": "act", "label": "Act", "colour": "#aa0000"},
        ],
        "grid": [
            ["ok", "ok", "ok", "act"],
            ["ok", "ok", "act", "act"],
            ["ok", "act", "act", "act"],
        ],
    }
    validate_definition(definition)
    assert level_for(definition, 1, 4) == "act"
    assert level_for(definition, 3, 1) == "ok"
    with pytest.raises(ValidationError):
        level_for(definition, 4, 1)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["grid"].pop(), "one row per likelihood"),
        (lambda d: d["grid"][2].pop(), "grid row 3"),
        (lambda d: d["grid"][0].__setitem__(0, "extreme"), "grid[1][1]: 'extreme'"),
        (lambda d: d["levels"][0].__setitem__("colour", "green"), "colour must be #rrggbb"),
        (lambda d: d["likelihood"][1].__setitem__("value", 7), "likelihood[2]: value must be 2"),
        (lambda d: d["levels"].append(dict(d["levels"][0])), "used twice"),
        (lambda d: d.__setitem__("extra", 1), "Unknown key"),
    ],
)
def test_invalid_definitions_are_refused_with_the_reason(mutate, message):
    definition = copy.deepcopy(default_definition())
    mutate(definition)
    with pytest.raises(ValidationError) as exc:
        validate_definition(definition)
    assert any(message in m for m in exc.value.message_dict["definition"]), exc.value
