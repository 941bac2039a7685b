"""Rollups: the `<n><unit>` spans, their buckets, which table serves them, a bucket's aggregate.

A rollup of a fixed-length unit (h, m, s, ms) buckets absolute time in steps of its length from
TimescaleDB's origin (2000-01-03T00:00Z), whatever `tz` says. A calendar rollup (d, w, M, y)
buckets local time in `tz` (UTC by default): buckets start at local midnight, weeks on Monday,
months on the 1st, years on January 1st (n-day and n-week buckets count from Monday
2000-01-03, n-month ones from January 2000), and a day across a DST change lasts 23 or 25
hours. Calendar bucket starts are computed here (zoneinfo) and handed to the query, which
places each row with `width_bucket`: one binary search instead of a time-zone conversion a row.

Each bucket is answered from the coarsest source whose buckets lie wholly inside one requested
bucket: `readings_daily` (UTC days) when every requested bucket boundary inside [from, to) is a
UTC midnight, `readings_hourly` when they are all whole UTC hours, raw readings otherwise. Only
whole coarse buckets inside [from, to) are read from a rollup table; the partial edges come from
the next finer source. The database folds the same partial state from every source (a raw
reading is the state of one value), so the answer does not depend on where it came from.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from core import timeparse
from query import history_times
from storage import history
from storage.rollups import DAY_US, HOUR_US

UNITS = ("y", "M", "w", "d", "h", "m", "s", "ms")
FUNCTIONS = ("avg", "max", "min", "sum", "count", "dev", "first", "last")
CALENDAR_UNITS = frozenset({"y", "M", "w", "d"})

_SPAN = re.compile(r"([1-9][0-9]{0,6})(ms|[yMwdhms])")
_FIXED_US = {"h": 3_600_000_000, "m": 60_000_000, "s": 1_000_000, "ms": 1_000}
# The shortest a calendar unit can be, for estimating how many buckets a range holds.
_SHORTEST = {
    "d": timedelta(hours=23),
    "w": timedelta(days=7, hours=-1),
    "M": timedelta(days=28),
    "y": timedelta(days=365),
}
_LONGEST = timedelta(days=365 * 1000)
ORIGIN_DAY = date(2000, 1, 3)  # a Monday: TimescaleDB's origin for day and week buckets


@dataclass(frozen=True, slots=True)
class Span:
    """`n` units of time, as in `rollup=15m` or `relative=6w`."""

    n: int
    unit: str

    def __str__(self) -> str:
        return f"{self.n}{self.unit}"

    @property
    def is_calendar(self) -> bool:
        """Whether the unit is a calendar one (d, w, M, y), bucketed in local time."""
        return self.unit in CALENDAR_UNITS

    @property
    def length_us(self) -> int | None:
        """The length in microseconds of a fixed-length span (h, m, s, ms), else None."""
        unit_us = _FIXED_US.get(self.unit)
        return None if unit_us is None else self.n * unit_us

    @property
    def shortest(self) -> timedelta:
        """The least time the span can last (a day across a DST change lasts 23 hours)."""
        length = self.length_us
        if length is not None:
            return timedelta(microseconds=length)
        return self.n * _SHORTEST[self.unit]


def parse_span(text: str) -> Span:
    """The span written as `<n><unit>`; raises ValueError saying what is accepted."""
    match = _SPAN.fullmatch(text.strip())
    if match is None:
        raise ValueError(
            f"expected <n><unit>: a whole number from 1 and one of {', '.join(UNITS)} "
            f"(y years, M months, w weeks, d days, h hours, m minutes, s seconds, "
            f"ms milliseconds), as in 1h, 15m or 1d; got {text[:40]!r}"
        )
    span = Span(int(match.group(1)), match.group(2))
    if span.shortest > _LONGEST:
        raise ValueError(f"{span} is too long: at most 1000 years")
    return span


class Source(enum.IntEnum):
    """Where buckets are read from, finest first."""

    RAW = 0
    HOURLY = 1
    DAILY = 2


def bucket_starts(span: Span, zone: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """The UTC starts of the calendar `span` buckets in `zone` that meet [start, end), sorted."""
    first = start.astimezone(zone).date()
    if span.unit in ("d", "w"):
        days = span.n * (7 if span.unit == "w" else 1)
        index = (first - ORIGIN_DAY).days // days

        def day_of(index: int) -> date:
            return ORIGIN_DAY + timedelta(days=index * days)

    else:
        months = span.n * (12 if span.unit == "y" else 1)
        index = ((first.year - 2000) * 12 + first.month - 1) // months

        def day_of(index: int) -> date:
            year, month = divmod(index * months, 12)
            return date(2000 + year, month + 1, 1)

    starts = []
    while (moment := history_times.local_midnight(day_of(index), zone)) < end:
        starts.append(moment)
        index += 1
    return starts


def source_for(width_us: int | None, starts: list[datetime] | None) -> Source:
    """The coarsest source whose buckets each lie inside one requested bucket.

    Buckets are `width_us` long from a UTC midnight, or start at each of `starts` (see
    `bucket_starts`), whose first is at or before the range and the rest inside it.
    """
    if width_us is not None:
        boundaries = [width_us]
    else:
        assert starts is not None
        # Only boundaries inside the range can split a coarse bucket read from a table.
        boundaries = [timeparse.to_micros(moment) for moment in starts[1:]]
    if all(boundary % DAY_US == 0 for boundary in boundaries):
        return Source.DAILY
    if all(boundary % HOUR_US == 0 for boundary in boundaries):
        return Source.HOURLY
    return Source.RAW


def _floor(moment: datetime, step_us: int) -> datetime:
    micros = timeparse.to_micros(moment)
    return timeparse.from_micros(micros - micros % step_us)


def _ceil(moment: datetime, step_us: int) -> datetime:
    micros = timeparse.to_micros(moment)
    return timeparse.from_micros(micros + (-micros) % step_us)


def bucket_query(
    device_id: int,
    sensor_id: int,
    *,
    rollup: Span,
    zone: ZoneInfo,
    start: datetime,
    end: datetime,
    raw: bool,
    fill: bool,
    limit: int | None,
) -> history.BucketQuery:
    """The query for one series' `rollup` buckets over [start, end), each part from its source.

    Whole UTC days inside the range come from `readings_daily`, whole hours around them from
    `readings_hourly`, the rest from raw readings, as far as `source_for` allows.
    """
    width_us = rollup.length_us
    if rollup.unit in ("d", "w") and zone.key in history_times.UTC_NAMES:
        # UTC days and weeks are fixed lengths from the same origin: plain arithmetic.
        width_us = rollup.n * (7 if rollup.unit == "w" else 1) * DAY_US
    starts = None if width_us is not None else bucket_starts(rollup, zone, start, end)
    source = source_for(width_us, starts)
    hourly_start = daily_start = daily_end = hourly_end = end
    if source >= Source.HOURLY:
        first_hour, last_hour = _ceil(start, HOUR_US), _floor(end, HOUR_US)
        if first_hour < last_hour:
            hourly_start = daily_start = daily_end = first_hour
            hourly_end = last_hour
    if source is Source.DAILY and hourly_start < hourly_end:
        first_day, last_day = _ceil(start, DAY_US), _floor(end, DAY_US)
        if first_day < last_day:
            daily_start, daily_end = first_day, last_day
    return history.BucketQuery(
        device_id=device_id,
        sensor_id=sensor_id,
        raw=raw,
        width_us=width_us,
        starts=starts,
        start=start,
        end=end,
        hourly_start=hourly_start,
        daily_start=daily_start,
        daily_end=daily_end,
        hourly_end=hourly_end,
        fill=fill,
        limit=limit,
    )


def estimated_buckets(rollup: Span, start: datetime, end: datetime) -> int:
    """At least as many buckets as [start, end) holds at `rollup`."""
    return (end - start) // rollup.shortest + 2


def evaluate(function: str, bucket: history.Bucket) -> float | int | None:
    """`function` of the values summarised by `bucket`; None for an empty bucket.

    `dev` is the sample standard deviation (None for fewer than two values), from the count,
    sum and sum of squares.
    """
    n = bucket.n
    if not n:
        return None
    if function == "count":
        return n
    if function == "avg":
        return None if bucket.sum is None else bucket.sum / n
    if function == "dev":
        if n < 2 or bucket.sum is None or bucket.sum_sq is None:
            return None
        variance = (bucket.sum_sq - bucket.sum * bucket.sum / n) / (n - 1)
        # Rounding can leave a tiny negative variance where the values are all equal.
        return math.sqrt(max(variance, 0.0))
    value: float | None = {
        "sum": bucket.sum,
        "min": bucket.min,
        "max": bucket.max,
        "first": bucket.first,
        "last": bucket.last,
    }[function]
    return value
