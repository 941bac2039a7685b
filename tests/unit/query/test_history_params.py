"""The history endpoint's parameters: defaults, lists of sensors, and 400s naming each problem."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from multidict import MultiDict, MultiDictProxy

from core import errors
from query import history_params
from query.rollup import Span

NOW = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


def _parse(*pairs):
    return history_params.parse(MultiDictProxy(MultiDict(pairs)), NOW)


def _problems(*pairs):
    with pytest.raises(errors.BadRequest) as caught:
        _parse(*pairs)
    assert caught.value.code == "invalid_parameter"
    assert caught.value.fields is not None
    return caught.value.fields


def test_defaults():
    params = _parse(("sensor_id", "55"), ("rollup", "1h"))
    assert params.sensor_ids == (55,)
    assert params.sensor_keys is None
    assert not params.several
    assert params.rollup == Span(1, "h")
    assert params.function == "avg"
    assert params.end == NOW
    assert params.start == NOW - timedelta(weeks=6)
    assert params.zone is None
    assert params.bucket_zone.key == "UTC"
    assert (params.all_intervals, params.limit, params.raw, params.format) == (
        False,
        None,
        False,
        "json",
    )


def test_the_default_to_is_now_rounded_up_to_a_whole_second():
    now = NOW + timedelta(microseconds=250_000)
    params = history_params.parse(
        MultiDictProxy(MultiDict([("sensor_id", "12"), ("rollup", "1h")])), now
    )
    assert params.end == NOW + timedelta(seconds=1)
    assert params.end.microsecond == 0


def test_everything_given():
    params = _parse(
        ("sensor_key", "temp,hum"),
        ("rollup", "1d"),
        ("function", "dev"),
        ("from", "2024-03-01"),
        ("to", "2024-04-01"),
        ("tz", "Europe/Madrid"),
        ("all_intervals", "true"),
        ("limit", "10"),
        ("raw", "1"),
        ("format", "ndjson"),
    )
    assert params.sensor_keys == ("temp", "hum")
    assert params.several
    assert params.start == datetime(2024, 2, 29, 23, tzinfo=UTC)
    assert params.end == datetime(2024, 3, 31, 22, tzinfo=UTC)
    assert params.zone is not None and params.zone.key == "Europe/Madrid"
    assert (params.all_intervals, params.limit, params.raw, params.format) == (
        True,
        10,
        True,
        "ndjson",
    )


def test_relative_steps_back_from_to():
    params = _parse(("sensor_id", "55"), ("rollup", "1h"), ("to", "2024-03-10"), ("relative", "1M"))
    assert params.start == datetime(2024, 2, 10, tzinfo=UTC)
    given = _parse(
        ("sensor_id", "55"), ("rollup", "1h"), ("from", "2024-03-01"), ("relative", "1y")
    )
    assert given.start == datetime(2024, 3, 1, tzinfo=UTC)  # from wins over relative


def test_several_sensors_by_commas_or_repetition_are_answered_once_each():
    params = _parse(("sensor_id", "56,55"), ("sensor_id", "56"), ("rollup", "1h"))
    assert params.sensor_ids == (56, 55)
    assert params.several
    assert _parse(("sensor_id", "55,55"), ("rollup", "1h")).several


def test_exports_may_omit_the_rollup_and_then_stream_stored_readings():
    params = _parse(("sensor_id", "55"), ("format", "csv"))
    assert params.rollup is None
    assert "rollup" in _problems(("sensor_id", "55"))


def test_all_problems_are_reported_together_with_what_is_accepted():
    fields = _problems(
        ("rollup", "1q"),
        ("function", "mode"),
        ("tz", "Nowhere/Special"),
        ("limit", "0"),
        ("raw", "perhaps"),
        ("all_intervals", "2"),
        ("format", "xml"),
        ("from", "soon"),
        ("to", "later"),
    )
    assert set(fields) == {
        "sensor_id",
        "rollup",
        "function",
        "tz",
        "limit",
        "raw",
        "all_intervals",
        "format",
        "from",
        "to",
    }
    assert "avg, max, min, sum, count, dev, first, last" in fields["function"][0]
    assert "y, M, w, d, h, m, s, ms" in fields["rollup"][0]
    assert "json, csv, ndjson" in fields["format"][0]


@pytest.mark.parametrize(
    ("pairs", "name"),
    [
        ([("sensor_id", "55"), ("sensor_key", "temp")], "sensor_id"),
        ([("sensor_id", "55,x")], "sensor_id"),
        ([("sensor_id", "2147483648")], "sensor_id"),
        ([("sensor_id", "\u00b2")], "sensor_id"),  # a superscript digit
        ([("sensor_id", ",".join(map(str, range(1, 22))))], "sensor_id"),
        ([("sensor_key", "")], "sensor_key"),
        ([("sensor_id", "55"), ("limit", "1" * 30)], "limit"),
        ([("sensor_id", "55"), ("from", "2024-05-01"), ("to", "2024-04-01")], "from"),
        ([("sensor_id", "55"), ("to", "1970-01-01")], "to"),
        ([("sensor_id", "55"), ("relative", "6")], "relative"),
    ],
)
def test_each_problem_names_its_parameter(pairs, name):
    fields = _problems(("rollup", "1h"), *pairs)
    assert list(fields) == [name]
