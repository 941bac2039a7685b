"""Numbers written as text: ASCII, as JSON writes them, and finite."""

from __future__ import annotations

import pytest

from core import numbers


@pytest.mark.parametrize(
    ("text", "number"),
    [("1", 1.0), ("-2.5", -2.5), (" 41.39 ", 41.39), ("1e3", 1000.0), (".5", 0.5), ("0", 0.0)],
)
def test_reads_numbers(text, number):
    assert numbers.parse_float(text) == number


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "1_000",
        "nan",
        "NaN",
        "inf",
        "-Infinity",
        "1e400",
        "\u0661\u0662",  # 12 in Arabic-Indic digits
        "\uff11\uff12",  # 12 in fullwidth digits
        "1,5",
    ],
)
def test_refuses_what_json_would_not_write_or_is_not_finite(text):
    assert numbers.parse_float(text) is None
