"""Rolled-up history equals a brute force over the raw rows, whichever table serves each bucket."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from query import rollup
from storage import demo, history
from storage.queries import SQL
from tests.integration.query import history_support as support

FUNCTIONS = ["avg", "max", "min", "sum", "count", "dev", "first", "last"]
SPRING = (datetime(2024, 3, 27, 21, tzinfo=UTC), datetime(2024, 4, 3, 3, tzinfo=UTC))
AUTUMN = (datetime(2024, 10, 24, 20, tzinfo=UTC), datetime(2024, 10, 30, 5, tzinfo=UTC))


@pytest.fixture
async def fleet(db_pool):
    async with db_pool.acquire() as conn:
        return await demo.seed(conn)


@pytest.fixture
async def client(query_app, aiohttp_client):
    return await support.history_client(aiohttp_client, query_app)


@pytest.fixture
async def rows(db_pool, fleet):
    """Irregular readings of two sensors of device 0 around both 2024 DST changes, rolled up."""
    device = fleet.devices[0].id
    found: list[support.Row] = []
    for seed, (start, end) in enumerate([SPRING, AUTUMN]):
        found += support.irregular_rows(device, 55, start, end, seed=seed)
        found += support.irregular_rows(device, 56, start, end, seed=seed + 10)
    async with db_pool.acquire() as conn:
        await support.insert_readings(conn, found)
        await support.fill_rollups(conn)
    return found


def _values_match(got, expected) -> bool:
    if expected is None or isinstance(expected, int):
        return bool(got == expected)
    return bool(got == pytest.approx(expected, rel=1e-9, abs=1e-9))


# rollup, tz, from, to: daily, hourly and raw sources, ranges cutting through days and hours.
CASES = [
    ("1d", None, "2024-03-28T05:17:23Z", "2024-04-02T19:41:07Z"),  # daily + hourly + raw edges
    ("48h", None, "2024-03-28T00:30:00Z", "2024-04-02T23:00:00Z"),  # daily, fixed length
    ("1h", None, "2024-03-29T10:10:10Z", "2024-03-30T08:50:00Z"),  # hourly + raw edges
    ("6h", None, "2024-10-25T01:59:59Z", "2024-10-29T13:00:01Z"),  # hourly
    ("15m", None, "2024-03-29T10:10:10Z", "2024-03-29T20:00:00Z"),  # raw
    ("90m", None, "2024-03-29T10:10:10Z", "2024-03-30T20:00:00Z"),  # raw: not whole hours
    ("1d", "Europe/Madrid", "2024-03-28", "2024-04-03"),  # hourly, a 23-hour day
    ("1d", "Europe/Madrid", "2024-10-25T07:00:00", "2024-10-29T22:30:00"),  # a 25-hour day
    ("1w", "Europe/Madrid", "2024-03-27T22:00:00Z", "2024-04-03T02:00:00Z"),  # Monday weeks
    ("1M", "Europe/Madrid", "2024-03-28", "2024-04-03"),  # months
    ("2d", "America/New_York", "2024-10-24T20:00:00Z", "2024-10-30T05:00:00Z"),
    ("1d", "Asia/Kolkata", "2024-03-28", "2024-04-02"),  # raw: half-hour offset
    ("1d", "Asia/Kathmandu", "2024-10-25", "2024-10-30"),  # raw: +05:45
    ("1y", None, "2024-01-01", "2025-01-01"),  # daily
    ("1d", None, "2024-03-28", "2024-04-02"),  # daily only: its rows are the buckets
    ("1h", None, "2024-03-29T10:00:00Z", "2024-03-30T08:00:00Z"),  # hourly only: the same
]


@pytest.mark.parametrize(("rollup", "tz", "start", "end"), CASES)
async def test_every_function_equals_a_brute_force_over_the_raw_rows(
    client, fleet, rows, rollup, tz, start, end
):
    device = fleet.devices[0].id
    zone_query = f"&tz={tz}" if tz else ""
    for function in FUNCTIONS:
        for raw in (False, True):
            response = await client.get(
                f"/v0/devices/{device}/readings?sensor_id=55&rollup={rollup}&function={function}"
                f"&from={start}&to={end}&raw={str(raw).lower()}{zone_query}"
            )
            assert response.status == 200, await response.text()
            body = await response.json()
            first, last = support.parse_time(body["from"]), support.parse_time(body["to"])
            expected, sample_size = support.brute_force(
                rows,
                device_id=device,
                sensor_id=55,
                rollup=rollup,
                tz=tz,
                start=first,
                end=last,
                function=function,
                raw=raw,
            )
            got = [(support.parse_time(t), v) for t, v in body["readings"]]
            assert [t for t, _ in got] == [t for t, _ in expected], (function, raw)
            assert all(_values_match(g, e) for (_, g), (_, e) in zip(got, expected, strict=True)), (
                function,
                raw,
                got,
                expected,
            )
            assert body["sample_size"] == sample_size
            assert len(expected) >= 1


MARK = 10**6


# Adding MARK to a rollup table's counts shows, through function=count, which buckets it served.
@pytest.mark.parametrize(
    ("rollup", "tz", "start", "end", "table", "marked"),
    [
        # Whole days in the middle from readings_daily, never the cut edges ...
        ("1d", None, "2024-03-28T05:17:23Z", "2024-04-02T19:41:07Z", "readings_daily", "middle"),
        # ... whose whole hours come from readings_hourly.
        ("1d", None, "2024-03-28T05:17:23Z", "2024-04-02T19:41:07Z", "readings_hourly", "edges"),
        ("1d", None, "2024-03-28T05:17:23Z", "2024-03-28T05:57:00Z", "readings_hourly", "none"),
        ("1h", None, "2024-03-28T05:17:23Z", "2024-03-28T09:41:07Z", "readings_hourly", "middle"),
        ("1h", None, "2024-03-28T05:17:23Z", "2024-03-29T09:41:07Z", "readings_daily", "none"),
        ("15m", None, "2024-03-28T05:00:00Z", "2024-03-28T09:00:00Z", "readings_hourly", "none"),
        ("1d", "Europe/Madrid", "2024-03-28", "2024-04-02", "readings_hourly", "all"),
        ("1d", "Europe/Madrid", "2024-03-28", "2024-04-02", "readings_daily", "none"),
        ("1d", "UTC", "2024-03-28", "2024-04-02", "readings_daily", "all"),
        ("1d", None, "2024-03-28", "2024-04-02", "readings_daily", "all"),
        ("1h", None, "2024-03-28T05:00:00Z", "2024-03-28T09:00:00Z", "readings_hourly", "all"),
        ("1d", "Asia/Kolkata", "2024-03-28", "2024-04-02", "readings_hourly", "none"),
    ],
)
async def test_each_bucket_is_served_by_the_coarsest_table_that_divides_it(
    client, fleet, rows, db_pool, rollup, tz, start, end, table, marked
):
    async with db_pool.acquire() as conn:
        await conn.execute(f"UPDATE {table} SET count = count + {MARK}")
    zone_query = f"&tz={tz}" if tz else ""
    response = await client.get(
        f"/v0/devices/{fleet.devices[0].id}/readings?sensor_id=55&rollup={rollup}"
        f"&function=count&from={start}&to={end}{zone_query}"
    )
    assert response.status == 200
    counts = [v for _, v in (await response.json())["readings"]]
    assert len(counts) >= 1
    served = [count >= MARK for count in counts]
    expected = {
        "all": [True] * len(counts),
        "none": [False] * len(counts),
        "middle": [False] + [True] * (len(counts) - 2) + [False],
        "edges": [True] + [False] * (len(counts) - 2) + [True],
    }[marked]
    assert served == expected


# Whole UTC days at 1d and whole hours at 1h: one table serves the range, one row per bucket.
ONE_TABLE = [
    ("1d", "readings_daily", datetime(2024, 3, 28, tzinfo=UTC), datetime(2024, 4, 2, tzinfo=UTC)),
    (
        "1h",
        "readings_hourly",
        datetime(2024, 3, 29, 10, tzinfo=UTC),
        datetime(2024, 3, 30, tzinfo=UTC),
    ),
]


@pytest.mark.parametrize(("span", "table", "start", "end"), ONE_TABLE)
@pytest.mark.parametrize("raw", [False, True])
@pytest.mark.parametrize("limit", [None, 3])
async def test_rows_read_from_one_rollup_table_are_the_folded_buckets(
    fleet, rows, db_pool, span, table, start, end, raw, limit
):
    device = fleet.devices[0].id
    async with db_pool.acquire() as conn:
        # A bucket whose calibrated values are all blank, and an empty one (as a recalibration's
        # lock leaves it): neither is a bucket of calibrated values, the first is one of raw values.
        buckets = await conn.fetch(
            f"SELECT bucket FROM {table} WHERE device_id = $1 AND sensor_id = 55"
            " AND bucket >= $2 AND bucket < $3 ORDER BY bucket LIMIT 2 OFFSET 1",
            device,
            start,
            end,
        )
        blank, empty = (row[0] for row in buckets)
        stored = await conn.fetchval(
            f"SELECT count(*) FROM {table} WHERE device_id = $1 AND sensor_id = 55"
            " AND bucket >= $2 AND bucket < $3",
            device,
            start,
            end,
        )
        await conn.execute(
            f"UPDATE {table} SET count = 0, sum = NULL, sum_sq = NULL, min = NULL, max = NULL,"
            " first_time = NULL, first_value = NULL, last_time = NULL, last_value = NULL"
            " WHERE device_id = $1 AND sensor_id = 55 AND bucket = ANY($2::timestamptz[])",
            device,
            [blank, empty],
        )
        await conn.execute(
            f"UPDATE {table} SET raw_count = 0 WHERE device_id = $1 AND sensor_id = 55"
            " AND bucket = $2",
            device,
            empty,
        )
        query = rollup.bucket_query(
            device,
            55,
            rollup=rollup.parse_span(span),
            zone=ZoneInfo("UTC"),
            start=start,
            end=end,
            raw=raw,
            fill=False,
            limit=limit,
        )
        assert history._rollup_table(query) == table.removeprefix("readings_")
        folded = [history.Bucket(*row) for row in await conn.fetch(SQL["history_buckets"], *query)]
        got = await history.buckets(conn, query)
        assert got == folded
        with_values = stored - (1 if raw else 2)
        assert len(got) == (with_values if limit is None else min(limit, with_values))
        assert (blank in [b.start for b in got]) is raw or limit is not None
        assert empty not in [b.start for b in got]
        for function in sorted(history.VALUE_FUNCTIONS):
            expected = await conn.fetchrow(history._BUCKET_VALUES_UNFILLED, *query, function)
            assert await history.bucket_values(conn, query, function) == tuple(expected)
        async for batch in history.stream_buckets(conn, query, batch_rows=2):
            assert batch == got[: len(batch)]
            got = got[len(batch) :]
        assert got == []


@pytest.mark.parametrize(
    "zone",
    [
        "UTC",
        "Europe/Madrid",
        "America/New_York",
        "Asia/Kolkata",
        "America/Santiago",
        "Pacific/Apia",
    ],
)
async def test_calendar_bucket_starts_agree_with_timescaledb_time_bucket(db_pool, zone):
    rng = random.Random(zone)
    moments = [
        datetime(2000, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(30 * 365 * 86400))
        for _ in range(300)
    ]
    spans = {"1d": "1 day", "3d": "3 days", "1w": "7 days", "2w": "14 days"}
    spans |= {"1M": "1 month", "5M": "5 months", "1y": "12 months", "2y": "24 months"}
    async with db_pool.acquire() as conn:
        for span, interval in spans.items():
            expected = await conn.fetch(
                "SELECT time_bucket($1::text::interval, m, $2::text)"
                "  FROM unnest($3::timestamptz[]) AS m",
                interval,
                zone,
                moments,
            )
            parsed = rollup.parse_span(span)
            got = [
                rollup.bucket_starts(parsed, ZoneInfo(zone), m, m + timedelta(microseconds=1))
                for m in moments
            ]
            assert got == [[row[0]] for row in expected], span
