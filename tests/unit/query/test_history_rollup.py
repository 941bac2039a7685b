"""Rollup spans, source selection, the split of a range between sources, and aggregates."""

from __future__ import annotations

import math
import statistics
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from query import rollup
from query.rollup import Source, Span
from storage.history import Bucket

UTC_ZONE = ZoneInfo("UTC")
MADRID = ZoneInfo("Europe/Madrid")


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("1y", Span(1, "y")),
        ("2M", Span(2, "M")),
        ("1w", Span(1, "w")),
        ("3d", Span(3, "d")),
        ("1h", Span(1, "h")),
        ("15m", Span(15, "m")),
        ("30s", Span(30, "s")),
        ("500ms", Span(500, "ms")),
        (" 6w ", Span(6, "w")),
    ],
)
def test_spans_parse(text, span):
    assert rollup.parse_span(text) == span
    assert str(span) == text.strip()


@pytest.mark.parametrize(
    "text", ["", "1", "h", "0d", "01d", "-1d", "1.5h", "1D", "1 d", "1mo", "1dd", "1001y", "x1d"]
)
def test_bad_spans_say_what_is_accepted(text):
    with pytest.raises(ValueError, match=r"<n><unit>|too long"):
        rollup.parse_span(text)


def test_fixed_spans_have_a_length_and_calendar_ones_a_shortest():
    assert Span(90, "m").length_us == 90 * 60 * 10**6
    assert Span(1, "d").length_us is None
    assert Span(1, "d").shortest == timedelta(hours=23)
    assert Span(1, "M").shortest == timedelta(days=28)
    assert Span(2, "h").shortest == timedelta(hours=2)
    assert Span(1, "w").is_calendar and not Span(1, "h").is_calendar


START = datetime(2024, 3, 1, tzinfo=UTC)
END = datetime(2024, 5, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("span", "zone", "source"),
    [
        ("1d", "UTC", Source.DAILY),
        ("1w", "UTC", Source.DAILY),
        ("1M", "UTC", Source.DAILY),
        ("1y", "UTC", Source.DAILY),
        ("24h", "UTC", Source.DAILY),
        ("48h", "Europe/Madrid", Source.DAILY),  # fixed lengths ignore the zone
        ("1440m", "UTC", Source.DAILY),
        ("1h", "UTC", Source.HOURLY),
        ("1h", "Asia/Kolkata", Source.HOURLY),  # absolute hours
        ("5h", "UTC", Source.HOURLY),
        ("120m", "UTC", Source.HOURLY),
        ("3600s", "UTC", Source.HOURLY),
        ("1d", "Europe/Madrid", Source.HOURLY),  # +01:00 and +02:00
        ("1M", "America/New_York", Source.HOURLY),
        ("1d", "Etc/GMT-3", Source.HOURLY),
        ("1d", "Europe/London", Source.HOURLY),  # BST from March 31st
        ("1d", "Asia/Kolkata", Source.RAW),
        ("1w", "Asia/Kathmandu", Source.RAW),
        ("90m", "UTC", Source.RAW),
        ("15m", "UTC", Source.RAW),
        ("1s", "UTC", Source.RAW),
        ("250ms", "UTC", Source.RAW),
    ],
)
def test_the_source_is_the_coarsest_whose_buckets_divide_the_rollup(span, zone, source):
    assert _source(span, zone, START, END) == source


def _source(span, zone, start, end):
    query = _query(span, zone, start, end)
    return rollup.source_for(query.width_us, query.starts)


def test_only_bucket_boundaries_inside_the_range_decide():
    winter = (datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 28, tzinfo=UTC))
    assert _source("1d", "Europe/London", *winter) == Source.DAILY  # on UTC all winter
    assert _source("1d", "Europe/London", START, END) == Source.HOURLY
    # a single bucket: nothing inside the range can split a day
    one_month = (datetime(2024, 3, 3, tzinfo=UTC), datetime(2024, 3, 20, tzinfo=UTC))
    assert _source("1M", "Asia/Kolkata", *one_month) == Source.DAILY
    assert _source("1M", "Asia/Kolkata", START, END) == Source.RAW


@pytest.mark.parametrize(
    ("span", "zone", "start", "end", "starts"),
    [
        (
            "1d",
            "Europe/Madrid",
            "2024-03-30T12:00",
            "2024-04-01T22:00",
            ["2024-03-29T23:00", "2024-03-30T23:00", "2024-03-31T22:00"],
        ),
        (
            "1d",
            "Europe/Madrid",
            "2024-10-26T12:00",
            "2024-10-28T00:00",
            ["2024-10-25T22:00", "2024-10-26T22:00", "2024-10-27T23:00"],
        ),
        (
            "1w",
            "UTC",
            "2024-03-31T12:00",
            "2024-04-02T00:00",
            ["2024-03-25T00:00", "2024-04-01T00:00"],
        ),
        ("2w", "UTC", "2024-01-14T00:00", "2024-01-15T00:00", ["2024-01-01T00:00"]),
        (
            "3d",
            "UTC",
            "2000-01-03T00:00",
            "2000-01-07T00:00",
            ["2000-01-03T00:00", "2000-01-06T00:00"],
        ),
        ("3d", "UTC", "1999-12-31T00:00", "2000-01-01T00:00", ["1999-12-31T00:00"]),
        (
            "1M",
            "Asia/Kolkata",
            "2024-02-10T00:00",
            "2024-03-05T00:00",
            ["2024-01-31T18:30", "2024-02-29T18:30"],
        ),
        (
            "2M",
            "UTC",
            "2024-04-10T00:00",
            "2024-07-05T00:00",
            ["2024-03-01T00:00", "2024-05-01T00:00", "2024-07-01T00:00"],
        ),
        (
            "1y",
            "UTC",
            "2023-06-01T00:00",
            "2025-01-01T00:00",
            ["2023-01-01T00:00", "2024-01-01T00:00"],
        ),
        ("1M", "America/Santiago", "2024-09-01T12:00", "2024-09-10T00:00", ["2024-09-01T04:00"]),
    ],
)
def test_calendar_buckets_start_at_local_midnights(span, zone, start, end, starts):
    got = rollup.bucket_starts(rollup.parse_span(span), ZoneInfo(zone), _at(start), _at(end))
    assert got == [_at(s) for s in starts]


def _query(span, zone, start, end):
    return rollup.bucket_query(
        7,
        55,
        rollup=rollup.parse_span(span),
        zone=ZoneInfo(zone),
        start=start,
        end=end,
        raw=False,
        fill=False,
        limit=None,
    )


def _at(text):
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("span", "zone", "start", "end", "bounds"),
    [
        # whole days from the daily table, whole hours around them, raw rows at the edges
        (
            "1d",
            "UTC",
            "2024-03-01T05:30",
            "2024-03-05T07:10",
            ("2024-03-01T06:00", "2024-03-02T00:00", "2024-03-05T00:00", "2024-03-05T07:00"),
        ),
        # aligned ends: no raw or hourly part is left
        (
            "1d",
            "UTC",
            "2024-03-01T00:00",
            "2024-03-05T00:00",
            ("2024-03-01T00:00", "2024-03-01T00:00", "2024-03-05T00:00", "2024-03-05T00:00"),
        ),
        # no whole day: hours only, the daily range empty
        (
            "1d",
            "UTC",
            "2024-03-01T05:30",
            "2024-03-01T23:10",
            ("2024-03-01T06:00", "2024-03-01T06:00", "2024-03-01T06:00", "2024-03-01T23:00"),
        ),
        # no whole hour: all raw
        (
            "1d",
            "UTC",
            "2024-03-01T05:30",
            "2024-03-01T05:50",
            ("2024-03-01T05:50", "2024-03-01T05:50", "2024-03-01T05:50", "2024-03-01T05:50"),
        ),
        # hourly source: never the daily table
        (
            "1d",
            "Europe/Madrid",
            "2024-03-01T05:30",
            "2024-03-05T07:10",
            ("2024-03-01T06:00", "2024-03-01T06:00", "2024-03-01T06:00", "2024-03-05T07:00"),
        ),
        # raw source
        (
            "15m",
            "UTC",
            "2024-03-01T05:30",
            "2024-03-05T07:10",
            ("2024-03-05T07:10", "2024-03-05T07:10", "2024-03-05T07:10", "2024-03-05T07:10"),
        ),
    ],
)
def test_a_range_splits_into_raw_hourly_and_daily_parts(span, zone, start, end, bounds):
    query = _query(span, zone, _at(start), _at(end))
    got = (query.hourly_start, query.daily_start, query.daily_end, query.hourly_end)
    assert got == tuple(_at(b) for b in bounds)
    assert query.start <= query.hourly_start <= query.daily_start <= query.daily_end
    assert query.daily_end <= query.hourly_end <= query.end


def test_calendar_buckets_are_listed_and_fixed_ones_have_a_width():
    daily = _query("1d", "Europe/Madrid", START, END)
    assert daily.width_us is None
    assert daily.starts is not None and len(daily.starts) == 31 + 30 + 1  # to 02:00 on May 1st
    assert daily.starts[0] == datetime(2024, 2, 29, 23, tzinfo=UTC)
    hourly = _query("2h", "Europe/Madrid", START, END)
    assert hourly.width_us == 2 * 3600 * 10**6 and hourly.starts is None
    # UTC days and weeks are fixed lengths
    assert _query("3d", "UTC", START, END).width_us == 3 * 86400 * 10**6
    assert _query("1w", "Etc/UTC", START, END).width_us == 7 * 86400 * 10**6
    assert _query("1M", "UTC", START, END).starts is not None


def test_the_bucket_estimate_never_undercounts():
    day = datetime(2024, 3, 31, tzinfo=UTC)
    assert rollup.estimated_buckets(Span(1, "h"), day, day + timedelta(days=1)) >= 24
    assert rollup.estimated_buckets(Span(1, "d"), START, END) >= 61
    assert rollup.estimated_buckets(Span(1, "M"), START, END) >= 2


VALUES = [(1.0, 3.5), (2.0, -1.25), (3.0, 8.0), (4.0, 2.0)]  # (time order, value)


def _bucket(values):
    data = [v for _, v in values]
    return Bucket(
        START,
        len(data),
        sum(data),
        sum(v * v for v in data),
        min(data),
        max(data),
        data[0],
        data[-1],
    )


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        ("avg", statistics.fmean([3.5, -1.25, 8.0, 2.0])),
        ("sum", 12.25),
        ("count", 4),
        ("min", -1.25),
        ("max", 8.0),
        ("first", 3.5),
        ("last", 2.0),
        ("dev", statistics.stdev([3.5, -1.25, 8.0, 2.0])),
    ],
)
def test_functions_of_a_bucket_state(function, expected):
    assert rollup.evaluate(function, _bucket(VALUES)) == pytest.approx(expected, rel=1e-12)


def test_dev_needs_two_values_and_is_never_negative():
    assert rollup.evaluate("dev", _bucket([(1.0, 5.0)])) is None
    same = _bucket([(i, 0.1) for i in range(7)])
    dev = rollup.evaluate("dev", same)
    assert dev is not None and dev >= 0 and math.isclose(dev, 0.0, abs_tol=1e-7)


def test_an_empty_bucket_has_no_value():
    empty = Bucket(START, None, None, None, None, None, None, None)
    assert all(rollup.evaluate(f, empty) is None for f in rollup.FUNCTIONS)
