"""Hourly and daily rollups kept by the claims: always equal to a brute-force summary of the
stored readings, whatever the order, repeats and concurrency of what is posted."""

from __future__ import annotations

import asyncio

import numpy as np

from storage import readings, rollups
from storage.pool import Pool
from tests.integration.workers.support import (
    DAY,
    HOUR,
    MINUTE,
    T0,
    assert_rollups_exact,
    stored_rollups,
)
from tests.unit.workers import sck
from workers import aggregation, processing
from workers.catalogue import Catalogue
from workers.config import WorkerSettings


async def drain(
    db_pool: Pool, catalogue: Catalogue, settings: WorkerSettings, *, limit: int | None = None
) -> processing.ProcessResult:
    """Process everything staged; the sum of the claims' results."""
    total = processing.ProcessResult()
    while (
        result := await processing.process_available(db_pool, catalogue, settings, limit=limit)
    ).claimed:
        total = total.plus(result)
    return total


async def hourly_row(db_pool: Pool, device: int, sensor: int, bucket: int) -> dict[str, object]:
    return (await stored_rollups(db_pool, "readings_hourly"))[(device, sensor, bucket)]


async def test_claims_across_hour_and_day_boundaries(
    db_pool, catalogue, settings, make_device, stage
):
    first, second = await make_device("first"), await make_device("second")
    times = [T0 - 95 * MINUTE + i * 7 * MINUTE for i in range(28)]  # 22:25 to 01:34
    sensors = [sck.TEMP, sck.NOISE, sck.LIGHT]
    for round_ in range(3):  # three claims, each with a third of the readings
        batch = [
            (t, sensor, 20000 + 37 * i + 1000 * j)
            for i, t in enumerate(times)
            for j, sensor in enumerate(sensors)
            if i % 3 == round_
        ]
        await stage(
            (first, batch[: len(batch) // 2]), (second, batch), (first, batch[len(batch) // 2 :])
        )
        await drain(db_pool, catalogue, settings)

    await assert_rollups_exact(db_pool)
    daily = await stored_rollups(db_pool, "readings_daily")
    assert {key[2] for key in daily} == {T0 - DAY, T0}
    assert daily[(first, sck.TEMP, T0 - DAY)]["count"] == 14  # 22:25 to 23:56, every 7 minutes
    hourly = await stored_rollups(db_pool, "readings_hourly")
    assert {key[2] for key in hourly} == {T0 + h * HOUR for h in (-2, -1, 0, 1)}


async def test_readings_before_1970_fall_in_the_buckets_they_belong_to(
    db_pool, catalogue, settings, device, stage
):
    await stage(
        (device, [(-30 * MINUTE, sck.NETS, 1), (-90 * MINUTE, sck.NETS, 2), (0, sck.NETS, 3)])
    )

    await drain(db_pool, catalogue, settings)

    await assert_rollups_exact(db_pool)
    hourly = await stored_rollups(db_pool, "readings_hourly")
    assert sorted(key[2] for key in hourly) == [-2 * HOUR, -HOUR, 0]


async def test_a_reposted_reading_is_not_counted_twice(db_pool, catalogue, settings, device, stage):
    await stage((device, [(T0 + i * MINUTE, sck.NETS, i) for i in range(5)]))
    await drain(db_pool, catalogue, settings)
    # The same readings again with other values (never stored), and two new ones.
    await stage((device, [(T0 + i * MINUTE, sck.NETS, 100 + i) for i in range(7)]))

    result = await drain(db_pool, catalogue, settings)

    assert (result.stored, result.duplicates) == (2, 5)
    await assert_rollups_exact(db_pool)
    row = await hourly_row(db_pool, device, sck.NETS, T0)
    assert (row["count"], row["sum"], row["max"]) == (7, 0 + 1 + 2 + 3 + 4 + 105 + 106, 106)


async def test_a_claim_of_new_and_repeated_readings_counts_each_stored_reading_once(
    db_pool, catalogue, settings, device, stage
):
    await stage((device, [(T0, sck.NETS, 1), (T0 + HOUR, sck.NETS, 2)]))
    await drain(db_pool, catalogue, settings)
    await stage(
        (device, [(T0, sck.NETS, 9), (T0 + MINUTE, sck.NETS, 3)]),  # a stored one, a new one
        (
            device,
            [(T0 + MINUTE, sck.NETS, 3), (T0 + 2 * MINUTE, sck.NETS, 4)],
        ),  # repeated in the claim
        (device, [(T0 + HOUR + MINUTE, sck.BAT, 50)]),  # another series, all new
    )

    result = await drain(db_pool, catalogue, settings)

    assert (result.claimed, result.stored, result.duplicates) == (3, 3, 2)
    await assert_rollups_exact(db_pool)
    row = await hourly_row(db_pool, device, sck.NETS, T0)
    assert (row["count"], row["sum"], row["last_value"]) == (3, 8, 4)


async def test_late_readings_move_first_and_last_only_outwards(
    db_pool, catalogue, settings, device, stage
):
    await stage((device, [(T0 + 30 * MINUTE, sck.NETS, 30)]))
    await drain(db_pool, catalogue, settings)
    await stage((device, [(T0 + 50 * MINUTE, sck.NETS, 50), (T0 + 10 * MINUTE, sck.NETS, 10)]))
    await drain(db_pool, catalogue, settings)

    row = await hourly_row(db_pool, device, sck.NETS, T0)
    assert (row["first_time"], row["first_value"]) == (T0 + 10 * MINUTE, 10)
    assert (row["last_time"], row["last_value"]) == (T0 + 50 * MINUTE, 50)

    await stage((device, [(T0 + 20 * MINUTE, sck.NETS, 20)]))  # late, in the middle
    await drain(db_pool, catalogue, settings)

    row = await hourly_row(db_pool, device, sck.NETS, T0)
    assert (row["count"], row["first_value"], row["last_value"], row["min"]) == (4, 10, 50, 10)
    await assert_rollups_exact(db_pool)


async def test_null_values_count_nowhere(db_pool, catalogue, settings, device, stage):
    async with db_pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO sensors (id, name, equation, reverse_equation)"
            " VALUES (901, 'odd', 'log(x)', '1/x')"
        )
    # posted 0: raw and value NULL; -2: raw -0.5, value NULL; 1: raw 1, value 0.
    await stage(
        (
            device,
            [
                (T0, 901, 0.0),
                (T0 + MINUTE, 901, -2.0),
                (T0 + 2 * MINUTE, 901, 1.0),
                (T0 + 3 * MINUTE, 901, -4.0),
                (T0 + HOUR, 901, 0.0),  # an hour of nothing but NULLs
            ],
        )
    )
    await drain(db_pool, catalogue, settings)
    await stage((device, [(T0 + 4 * MINUTE, 901, 0.0), (T0 - MINUTE, 901, -1.0)]))  # late NULLs
    await drain(db_pool, catalogue, settings)

    await assert_rollups_exact(db_pool)
    row = await hourly_row(db_pool, device, 901, T0)
    assert (row["count"], row["sum"], row["first_value"], row["last_value"]) == (1, 0.0, 0.0, 0.0)
    assert (row["raw_count"], row["raw_first_value"], row["raw_last_value"]) == (3, -0.5, -0.25)
    empty = await hourly_row(db_pool, device, 901, T0 + HOUR)
    assert (empty["count"], empty["raw_count"], empty["sum"], empty["first_time"]) == (
        0,
        0,
        None,
        None,
    )


async def test_concurrent_claim_loops_keep_rollups_exact(db_pool, settings, make_device, stage):
    devices = [await make_device(f"d{i}") for i in range(3)]
    sensors = [sck.NETS, sck.TEMP, sck.NOISE]
    # Each device's batches interleave in time, so concurrent claims fold into the same rows.
    staged = [
        (
            device,
            [
                (T0 + (7 * i + b) * 3 * MINUTE, sensor, 1000 + b * 10 + i)
                for i in range(4)
                for sensor in sensors
            ],
        )
        for b in range(7)
        for device in devices
    ]
    await stage(*staged)
    await stage(*staged[::4])  # and some repeats

    results = await asyncio.gather(
        *(drain(db_pool, Catalogue(60.0), settings, limit=2) for _ in range(3))
    )

    assert sum(r.stored for r in results) == len(staged) * 12
    await assert_rollups_exact(db_pool)


async def test_two_folds_in_one_transaction_each_count_once(db_pool, device):
    # A transaction's staged summaries and latest readings are gone once folded, so a second
    # fold in the same transaction adds only its own.
    first = [(T0 + i * MINUTE, sck.NETS, 10.0 + i) for i in range(3)]
    second = [(T0 + (10 + i) * MINUTE, sck.NETS, 20.0 + i) for i in range(2)]
    async with db_pool.acquire() as conn, conn.transaction():
        for part in (first, second):
            stored = await readings.insert_readings(
                conn,
                np.array([t for t, _, _ in part], dtype=np.int64),
                np.full(len(part), device, dtype=np.int64),
                np.array([s for _, s, _ in part], dtype=np.int32),
                np.array([v for _, _, v in part]),
                np.array([v for _, _, v in part]),
            )
            await rollups.add(conn, *aggregation.rollups_per_bucket(*stored[:-1]))
            await readings.update_latest(conn, aggregation.latest_per_series(*stored[:-1]))

    await assert_rollups_exact(db_pool)
    assert (await hourly_row(db_pool, device, sck.NETS, T0))["count"] == 5
    latest = await db_pool.fetchrow(
        "SELECT value, prev_value FROM latest_readings WHERE device_id = $1", device
    )
    assert (latest["value"], latest["prev_value"]) == (21.0, 20.0)
