"""Recalibration: stored values re-derived from raw values with the current equation, rollups
rebuilt exactly, latest values followed, claims in flight counted once; and its command line."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from core import timeparse
from storage import readings, rollups
from storage.pool import Connection, Pool
from tests.integration.workers.support import (
    DAY,
    HOUR,
    MINUTE,
    T0,
    assert_rollups_exact,
    stored_rollups,
)
from tests.support import eventually
from tests.unit.workers import sck
from workers import aggregation, processing, recalibration
from workers.calibration import Calibrator
from workers.catalogue import Catalogue
from workers.errors import UnknownSensors

PROJECT_ROOT = Path(__file__).resolve().parents[3]


async def set_equation(
    db_pool: Pool, catalogue: Catalogue, sensor: int, equation: str
) -> Calibrator:
    """Change a sensor's equation; the calibrator of the catalogue as it now is."""
    async with db_pool.acquire() as conn:
        await conn.execute("UPDATE sensors SET equation = $2 WHERE id = $1", sensor, equation)
        return await catalogue.reload(conn)


async def values_of(db_pool: Pool, device: int, sensor: int) -> dict[int, tuple[float, float]]:
    """{time: (raw_value, value)} of a series."""
    async with db_pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT time, raw_value, value FROM readings WHERE device_id = $1 AND sensor_id = $2",
            device,
            sensor,
        )
    return {timeparse.to_micros(r["time"]): (r["raw_value"], r["value"]) for r in rows}


@pytest.fixture
async def stored(db_pool, catalogue, settings, make_device, stage):
    """Two devices with NETS (x) and BAT (x/10 posted) readings every 50 minutes over three
    days, stored by claims; returns the device ids."""
    first, second = await make_device("first"), await make_device("second")
    times = range(T0 - DAY // 2, T0 + 2 * DAY, 50 * MINUTE)
    for device in (first, second):
        await stage(
            (device, [(t, sck.NETS, float(i % 17)) for i, t in enumerate(times)]),
            (device, [(t, sck.BAT, float(i)) for i, t in enumerate(times)]),
        )
    while (await processing.process_available(db_pool, catalogue, settings)).claimed:
        pass
    return first, second


async def test_recalibrating_a_series_rewrites_its_values_and_rollups(db_pool, catalogue, stored):
    first, second = stored
    untouched = {
        (d, s): await values_of(db_pool, d, s)
        for d, s in ((first, sck.BAT), (second, sck.NETS), (second, sck.BAT))
    }
    calibrator = await set_equation(db_pool, catalogue, sck.NETS, "2 * x + 1")
    days: list[recalibration.DayRecalibrated] = []

    changed = await recalibration.recalibrate(
        db_pool, first, sck.NETS, None, None, calibrator, progress=days.append, page_rows=7
    )

    series = await values_of(db_pool, first, sck.NETS)
    assert all(value == 2 * raw + 1 for raw, value in series.values())
    assert changed == len(series) == sum(day.readings for day in days)
    assert [day.day_us for day in days] == [T0 - DAY, T0, T0 + DAY]
    for (device, sensor), before in untouched.items():
        assert await values_of(db_pool, device, sensor) == before
    await assert_rollups_exact(db_pool)
    daily = await stored_rollups(db_pool, "readings_daily")
    assert daily[(first, sck.NETS, T0)]["max"] == 2 * 16 + 1
    # Nothing differs any more: a second run rewrites nothing.
    assert await recalibration.recalibrate(db_pool, first, sck.NETS, None, None, calibrator) == 0


async def test_a_range_recalibrates_only_the_readings_in_it(db_pool, catalogue, stored):
    first, _ = stored
    before = await values_of(db_pool, first, sck.NETS)
    calibrator = await set_equation(db_pool, catalogue, sck.NETS, "x - 100")
    start, end = T0 + 6 * HOUR, T0 + DAY + 6 * HOUR

    changed = await recalibration.recalibrate(db_pool, first, sck.NETS, start, end, calibrator)

    after = await values_of(db_pool, first, sck.NETS)
    inside = [t for t in after if start <= t < end]
    assert changed == len(inside) > 0
    for t, (raw, value) in after.items():
        assert value == (raw - 100 if start <= t < end else before[t][1]), t
    await assert_rollups_exact(db_pool)


async def test_values_that_become_null_leave_the_rollups(db_pool, catalogue, stored):
    first, _ = stored
    calibrator = await set_equation(db_pool, catalogue, sck.NETS, "log(x - 8)")  # NaN up to 8

    await recalibration.recalibrate(db_pool, first, sck.NETS, None, None, calibrator)

    values = await values_of(db_pool, first, sck.NETS)
    assert any(value is None for _, value in values.values())
    assert all((value is None) == (raw <= 8) for raw, value in values.values())
    await assert_rollups_exact(db_pool)


async def latest_of(db_pool: Pool, device: int, sensor: int) -> tuple[object, ...]:
    async with db_pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT time, value, prev_time, prev_value FROM latest_readings"
            " WHERE device_id = $1 AND sensor_id = $2",
            device,
            sensor,
        )
    assert row is not None
    return (timeparse.to_micros(row[0]), row[1], timeparse.to_micros(row[2]), row[3])


async def test_latest_values_follow_the_readings_in_the_range(
    db_pool, catalogue, settings, device, stage
):
    await stage(
        (device, [(T0, sck.NETS, 1), (T0 + HOUR, sck.NETS, 2), (T0 + 2 * HOUR, sck.NETS, 3)])
    )
    await processing.process_available(db_pool, catalogue, settings)
    calibrator = await set_equation(db_pool, catalogue, sck.NETS, "10 * x")

    # Only the previous reading is in the range: the latest value stays.
    await recalibration.recalibrate(db_pool, device, sck.NETS, T0 + HOUR, T0 + 2 * HOUR, calibrator)
    assert await latest_of(db_pool, device, sck.NETS) == (T0 + 2 * HOUR, 3, T0 + HOUR, 20)

    await recalibration.recalibrate(db_pool, device, sck.NETS, T0 + 2 * HOUR, None, calibrator)
    assert await latest_of(db_pool, device, sck.NETS) == (T0 + 2 * HOUR, 30, T0 + HOUR, 20)


async def test_an_unknown_sensor_is_refused_before_anything_changes(db_pool, catalogue, stored):
    first, _ = stored
    async with db_pool.acquire() as conn:
        calibrator = await catalogue.reload(conn)
    with pytest.raises(UnknownSensors):
        await recalibration.recalibrate(db_pool, first, 4242, None, None, calibrator)


async def test_a_range_without_readings_does_nothing(db_pool, catalogue, stored):
    first, _ = stored
    async with db_pool.acquire() as conn:
        calibrator = await catalogue.reload(conn)
    days: list[recalibration.DayRecalibrated] = []
    changed = await recalibration.recalibrate(
        db_pool, first, sck.NETS, T0 + 10 * DAY, None, calibrator, progress=days.append
    )
    assert (changed, days) == (0, [])


async def test_rebuild_repairs_rollups_and_drops_rows_without_readings(db_pool, stored):
    first, _ = stored
    async with db_pool.acquire() as conn:
        await conn.execute(
            "UPDATE readings_hourly SET count = 999, max = -1 WHERE device_id = $1", first
        )
        await conn.execute(
            "INSERT INTO readings_daily (bucket, device_id, sensor_id, count, raw_count)"
            " VALUES ($1, $2, $3, 5, 5)",
            timeparse.from_micros(T0 + 5 * DAY),
            first,
            sck.NETS,
        )
        for sensor in (sck.NETS, sck.BAT):  # outside a transaction: it opens its own
            await rollups.rebuild(conn, first, sensor, T0 - DAY, T0 + 6 * DAY - 1)

    await assert_rollups_exact(db_pool)


async def store(conn: Connection, device: int, times: list[int]) -> readings.Inserted:
    """What a claim does first inside its transaction: store NETS readings (values 0, 1, ...)."""
    n = len(times)
    values = np.arange(n, dtype=np.float64)
    return await readings.insert_readings(
        conn,
        np.array(times, dtype=np.int64),
        np.full(n, device, dtype=np.int64),
        np.full(n, sck.NETS, dtype=np.int32),
        values,
        values,
    )


async def fold(conn: Connection, stored: readings.Inserted) -> None:
    """What a claim does next: fold what it stored into the rollups."""
    await rollups.add(conn, *aggregation.rollups_per_bucket(*stored[:-1]))


async def blocked_on_a_lock(db_pool: Pool) -> bool:
    async with db_pool.acquire() as conn:
        return bool(
            await conn.fetchval(
                "SELECT count(*) > 0 FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )


async def test_a_claim_that_folded_its_rollups_makes_the_recalibration_wait(
    db_pool, catalogue, stored
):
    first, _ = stored
    calibrator = await set_equation(db_pool, catalogue, sck.NETS, "3 * x")
    async with db_pool.acquire() as conn:
        claim = conn.transaction()
        await claim.start()
        try:
            await fold(conn, await store(conn, first, [T0 + MINUTE, T0 + 7 * MINUTE]))
            task = asyncio.create_task(
                recalibration.recalibrate(db_pool, first, sck.NETS, T0, T0 + DAY, calibrator)
            )
            await eventually(lambda: blocked_on_a_lock(db_pool), what="the recalibration waiting")
            assert not task.done()
        except BaseException:
            await claim.rollback()
            raise
        await claim.commit()
    await task

    await assert_rollups_exact(db_pool)
    # The claim committed first: its readings were recalibrated too.
    assert (await values_of(db_pool, first, sck.NETS))[T0 + 7 * MINUTE] == (1.0, 3.0)


async def test_a_claim_that_stored_readings_but_not_yet_their_rollups_folds_them_after(
    db_pool, catalogue, stored
):
    first, _ = stored
    calibrator = await set_equation(db_pool, catalogue, sck.NETS, "3 * x")
    async with db_pool.acquire() as conn, conn.transaction():
        stored_by_claim = await store(conn, first, [T0 + 2 * MINUTE, T0 + 3 * MINUTE])
        # The recalibration neither sees nor waits for the uncommitted readings...
        await recalibration.recalibrate(db_pool, first, sck.NETS, T0, T0 + DAY, calibrator)
        # ...which their claim then folds into the rebuilt rows.
        await fold(conn, stored_by_claim)

    await assert_rollups_exact(db_pool)


async def test_recalibrations_alongside_claim_loops_keep_rollups_exact(
    db_pool, catalogue, settings, stored, stage
):
    first, second = stored
    calibrator = await set_equation(db_pool, catalogue, sck.NETS, "x + 0.5")
    await stage(
        *(
            (device, [(T0 + (i * 13 + b) * MINUTE + 1, sck.NETS, float(i)) for i in range(20)])
            for b in range(10)
            for device in (first, second)
        )
    )

    async def drain() -> None:
        claims = Catalogue(60.0)
        while (await processing.process_available(db_pool, claims, settings, limit=2)).claimed:
            pass

    await asyncio.gather(
        drain(),
        drain(),
        recalibration.recalibrate(db_pool, first, sck.NETS, None, None, calibrator),
        recalibration.recalibrate(db_pool, second, sck.NETS, T0, None, calibrator),
    )

    await assert_rollups_exact(db_pool)


async def test_python_m_workers_recalibrate(database_dsn, db_pool, catalogue, stored):
    first, _ = stored
    await set_equation(db_pool, catalogue, sck.NETS, "x / 2")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "WORKERS_"))}
    env["DATABASE_URL"] = database_dsn
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "workers.recalibrate",
        "--device",
        str(first),
        "--sensor",
        str(sck.NETS),
        "--from",
        "2023-12-31T23:00:00Z",
        "--to",
        "2024-01-02",
        cwd=PROJECT_ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)

    assert process.returncode == 0, err.decode()
    series = await values_of(db_pool, first, sck.NETS)
    inside = {t: raw for t, (raw, _) in series.items() if T0 - HOUR <= t < T0 + DAY}
    changed = [t for t, raw in inside.items() if raw != 0]  # x / 2 leaves 0 as it was
    assert out.decode().splitlines() == [
        f"2023-12-31: {sum(t < T0 for t in inside)} readings recalibrated, 1 changed",
        f"2024-01-01: {sum(t >= T0 for t in inside)} readings recalibrated,"
        f" {sum(t >= T0 for t in changed)} changed",
        f"done: {len(changed)} readings of device {first} sensor {sck.NETS} changed",
    ]
    for t, (raw, value) in series.items():
        assert value == (raw / 2 if t in inside else raw), t
    await assert_rollups_exact(db_pool)


async def test_python_m_workers_recalibrate_reports_an_unknown_sensor(database_dsn):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "WORKERS_"))}
    env["DATABASE_URL"] = database_dsn
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "workers.recalibrate",
        "--device",
        "1",
        "--sensor",
        "4242",
        cwd=PROJECT_ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), timeout=60)

    assert process.returncode == 1
    assert "sensors not in the catalogue: [4242]" in err.decode()
