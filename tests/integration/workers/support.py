"""Shared by the worker tests: reading times, and rollups checked against the raw rows."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import pytest

from core import timeparse
from storage.pool import Pool
from tests.unit.workers.brute_force import summarise

# 2024-01-01T00:00:00Z in microseconds since the Unix epoch.
T0 = 1_704_067_200_000_000
MINUTE = 60_000_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR

Key = tuple[int, int, int]  # device, sensor, bucket (µs)


async def brute_force_rollups(db_pool: Pool, width_us: int) -> dict[Key, dict[str, object]]:
    """Every rollup row there should be, from the stored readings: calibrated and raw_*."""
    async with db_pool.acquire() as conn:
        rows = await conn.fetch("SELECT time, device_id, sensor_id, raw_value, value FROM readings")
    buckets: dict[Key, list[tuple[int, float | None, float | None]]] = defaultdict(list)
    for row in rows:
        time = timeparse.to_micros(row["time"])
        key = (row["device_id"], row["sensor_id"], time - time % width_us)
        buckets[key].append((time, row["raw_value"], row["value"]))
    expected = {}
    for key, points in buckets.items():
        calibrated = summarise([(t, v) for t, _, v in points])
        raw = summarise([(t, r) for t, r, _ in points])
        expected[key] = calibrated | {f"raw_{name}": value for name, value in raw.items()}
    return expected


async def stored_rollups(db_pool: Pool, table: str) -> dict[Key, dict[str, object]]:
    """The rows of `readings_hourly` or `readings_daily`, times as µs."""
    async with db_pool.acquire() as conn:
        rows = await conn.fetch(f"SELECT * FROM {table}")  # a name of ours, not input
    found = {}
    for row in rows:
        record = {
            name: timeparse.to_micros(value) if isinstance(value, datetime) else value
            for name, value in dict(row).items()
        }
        key = (record.pop("device_id"), record.pop("sensor_id"), record.pop("bucket"))
        found[key] = record
    return found


async def assert_rollups_exact(db_pool: Pool) -> None:
    """Both rollup tables hold exactly the summaries of the stored readings (sums to rounding)."""
    for table, width in (("readings_hourly", HOUR), ("readings_daily", DAY)):
        expected = await brute_force_rollups(db_pool, width)
        found = await stored_rollups(db_pool, table)
        assert sorted(found) == sorted(expected), table
        for key, summary in expected.items():
            row = found[key]
            for name, value in summary.items():
                if name.endswith(("sum", "sum_sq")) and value is not None:
                    assert row[name] == pytest.approx(value, rel=1e-12, abs=1e-9), (
                        table,
                        key,
                        name,
                    )
                else:
                    assert row[name] == value, (table, key, name, row)
