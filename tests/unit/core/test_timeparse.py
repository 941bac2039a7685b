"""Timestamps as devices send them: ISO 8601 with or without offset, epoch seconds, SCK 1.x."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core import timeparse

T0 = timeparse.to_micros(datetime(2024, 3, 1, 12, 30, 15, tzinfo=UTC))


@pytest.mark.parametrize(
    "value",
    [
        "2024-03-01T12:30:15Z",
        "2024-03-01T12:30:15+00:00",
        "2024-03-01T14:30:15+02:00",
        "2024-03-01T07:30:15-05:00",
        "2024-03-01T12:30:15",  # naive means UTC
        "2024-03-01 12:30:15",
        "2024-03-01 12:30:15.000",
        1709296215,
        1709296215.0,
        "1709296215",
    ],
)
def test_equivalent_forms_give_the_same_instant(value):
    assert timeparse.parse_timestamp(value) == T0


def test_sck_1_x_clock_without_padding():
    expected = timeparse.to_micros(datetime(2013, 10, 28, 1, 34, 26, tzinfo=UTC))
    assert timeparse.parse_timestamp("2013-10-28 1:34:26") == expected


def test_fractions_keep_microseconds():
    assert timeparse.parse_timestamp("2024-03-01T12:30:15.25Z") == T0 + 250_000


@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "",
        "2024-13-01T00:00:00Z",
        "2024-02-30",
        True,
        None,
        [],
        float("nan"),
        float("inf"),
        1e300,
        "1e400",
        # Digits are ASCII and numbers are written as JSON writes them, as for readings' values:
        # float() and int() would read all of these.
        "1_700_000_000",
        "\u0661\u0667\u0660\u0660\u0660\u0660\u0660\u0660\u0660\u0660",  # Arabic-Indic
        "\uff11\uff17\uff10\uff10\uff10\uff10\uff10\uff10\uff10\uff10",  # fullwidth
        "\uff12\uff10\uff11\uff13-10-28 1:34:26",
        "2013-\uff11\uff10-28 1:34:26",
    ],
)
def test_rejects_what_is_not_a_time(value):
    with pytest.raises(timeparse.TimeParseError):
        timeparse.parse_timestamp(value)


def test_round_trip_through_micros():
    moment = datetime(2021, 6, 30, 23, 59, 59, 999_999, tzinfo=UTC)
    assert timeparse.from_micros(timeparse.to_micros(moment)) == moment


def test_clock_string_as_smartcitizen_writes_it():
    moment = datetime(2024, 1, 5, 3, 4, 5, tzinfo=UTC)
    assert timeparse.format_clock(moment) == "UTC:2024,1,5,03,04,05#"
