"""Readings for the history tests: stored with SQL, rolled up with SQL, and a brute force.

The rollup tables are filled here with one aggregate over `readings` (the workers keep them in
production), and `brute_force` computes what the endpoint must answer straight from the rows in
Python, independently of query/rollup.py.
"""

from __future__ import annotations

import math
import random
import statistics
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

Row = tuple[datetime, int, int, float | None, float | None]  # time, device, sensor, raw, value

ORIGIN = datetime(2000, 1, 3, tzinfo=UTC)
FIXED = {
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
    "s": timedelta(seconds=1),
    "ms": timedelta(milliseconds=1),
}

_FILL = """
INSERT INTO {table}
SELECT time_bucket('{width}', time), device_id, sensor_id,
       count(value), sum(value), sum(value * value), min(value), max(value),
       min(time) FILTER (WHERE value IS NOT NULL),
       first(value, time) FILTER (WHERE value IS NOT NULL),
       max(time) FILTER (WHERE value IS NOT NULL),
       last(value, time) FILTER (WHERE value IS NOT NULL),
       count(raw_value), sum(raw_value), sum(raw_value * raw_value), min(raw_value), max(raw_value),
       min(time) FILTER (WHERE raw_value IS NOT NULL),
       first(raw_value, time) FILTER (WHERE raw_value IS NOT NULL),
       max(time) FILTER (WHERE raw_value IS NOT NULL),
       last(raw_value, time) FILTER (WHERE raw_value IS NOT NULL)
  FROM readings
 GROUP BY 1, 2, 3
"""


async def history_client(aiohttp_client, query_app):
    """A test client of the query app on this test's database."""
    return await aiohttp_client(query_app())


async def insert_readings(conn, rows: list[Row]) -> None:
    """Store `rows` as the workers would (time, device_id, sensor_id, raw_value, value)."""
    await conn.copy_records_to_table(
        "readings", records=rows, columns=["time", "device_id", "sensor_id", "raw_value", "value"]
    )


async def fill_rollups(conn) -> None:
    """Rebuild readings_hourly and readings_daily from readings."""
    await conn.execute("TRUNCATE readings_hourly, readings_daily")
    await conn.execute(_FILL.format(table="readings_hourly", width="1 hour"))
    await conn.execute(_FILL.format(table="readings_daily", width="1 day"))


def irregular_rows(
    device_id: int, sensor_id: int, start: datetime, end: datetime, seed: int
) -> list[Row]:
    """Readings at irregular times in [start, end), with a few blank values and raw values."""
    rng = random.Random(seed)
    rows: list[Row] = []
    moment = start + timedelta(seconds=rng.randint(0, 300))
    while moment < end:
        value = None if rng.random() < 0.04 else round(rng.gauss(20, 6), 3)
        raw = None if rng.random() < 0.04 else round(rng.uniform(0, 1000), 2)
        rows.append((moment, device_id, sensor_id, raw, value))
        moment += timedelta(seconds=rng.randint(30, 600), microseconds=rng.choice([0, 250_000]))
    return rows


def every_minute(device_id: int, sensor_id: int, start: datetime, end: datetime) -> list[Row]:
    """One reading a minute in [start, end), value = minutes since start."""
    count = int((end - start) / timedelta(minutes=1))
    return [
        (start + timedelta(minutes=i), device_id, sensor_id, float(i), float(i))
        for i in range(count)
    ]


def bucket_start(moment: datetime, rollup: str, tz: str | None) -> datetime:
    """The start of the `rollup` bucket holding `moment`, computed by hand."""
    n, unit = int(rollup.rstrip("yMwdhms")), rollup.lstrip("0123456789")
    if unit in FIXED:
        length = n * FIXED[unit]
        return ORIGIN + ((moment - ORIGIN) // length) * length
    zone = ZoneInfo(tz or "UTC")
    local = moment.astimezone(zone).date()
    if unit in ("d", "w"):
        days = n * (7 if unit == "w" else 1)
        since = (local - date(2000, 1, 3)).days
        day = date(2000, 1, 3) + timedelta(days=since - since % days)
    else:
        months = n * (12 if unit == "y" else 1)
        since = (local.year - 2000) * 12 + local.month - 1
        first = since - since % months
        day = date(2000 + first // 12, first % 12 + 1, 1)
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


def aggregate(function: str, points: list[tuple[datetime, float]]):
    """`function` of the values of `points` (time, value), by definition."""
    values = [v for _, v in points]
    ordered = sorted(points)
    return {
        "avg": lambda: statistics.fmean(values),
        "sum": lambda: math.fsum(values),
        "count": lambda: len(values),
        "min": lambda: min(values),
        "max": lambda: max(values),
        "first": lambda: ordered[0][1],
        "last": lambda: ordered[-1][1],
        "dev": lambda: statistics.stdev(values) if len(values) > 1 else None,
    }[function]()


def brute_force(
    rows: list[Row],
    *,
    device_id: int,
    sensor_id: int,
    rollup: str,
    tz: str | None,
    start: datetime,
    end: datetime,
    function: str,
    raw: bool = False,
) -> tuple[list[tuple[datetime, float | int | None]], int]:
    """(buckets newest first as (start, value), sample size) straight from the rows."""
    groups: dict[datetime, list[tuple[datetime, float]]] = defaultdict(list)
    for moment, device, sensor, raw_value, value in rows:
        chosen = raw_value if raw else value
        if device == device_id and sensor == sensor_id and start <= moment < end:
            if chosen is not None:
                groups[bucket_start(moment, rollup, tz)].append((moment, chosen))
    buckets = [(b, aggregate(function, groups[b])) for b in sorted(groups, reverse=True)]
    return buckets, sum(len(points) for points in groups.values())


def parse_time(text: str) -> datetime:
    """A timestamp of the response as an aware datetime."""
    return datetime.fromisoformat(text)
