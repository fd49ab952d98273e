from decimal import Decimal

import pytest

from risk.cvss import CvssError, base_score, severity_for


@pytest.mark.parametrize(
    ("vector", "score"),
    [
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "9.8"),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", "10.0"),
        ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", "7.8"),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", "6.1"),
        ("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", "1.6"),
        ("CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", "5.9"),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", "0.0"),
        ("CVSS:3.1/C:H/I:H/A:H/AV:N/AC:L/PR:N/UI:N/S:U/E:P", "9.8"),
    ],
)
def test_base_scores_match_the_specification(vector, score):
    assert base_score(vector) == Decimal(score)


@pytest.mark.parametrize(
    ("vector", "reason"),
    [
        ("AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "starts with CVSS:3.1"),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H", "Missing base metric(s): A"),
        ("CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "AV:X is not a valid value"),
        ("CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "appears twice"),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/ZZ:1", "Unknown metric ZZ"),
        ("CVSS:2.0/AV:N", "starts with"),
    ],
)
def test_invalid_vectors_say_why(vector, reason):
    with pytest.raises(CvssError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        base_score(vector)


@pytest.mark.parametrize(
    ("score", "rating"),
    [
        (0, "none"),
        ("0.1", "low"),
        ("3.9", "low"),
        (4, "medium"),
        ("6.9", "medium"),
        (7, "high"),
        ("8.9", "high"),
        (9, "critical"),
        (10, "critical"),
    ],
)
def test_severity_rating_bands(score, rating):
    assert severity_for(Decimal(str(score))) == rating
