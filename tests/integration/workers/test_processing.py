"""One claim against a real database: calibrated readings, duplicates, latest values,
components, device times, unknown sensors and poison batches."""

from __future__ import annotations

import asyncio

import pytest

from core import timeparse
from storage import batches
from storage.models import DeadLetter
from storage.pool import Pool
from tests.integration.workers.support import MINUTE, T0
from tests.unit.workers import sck
from workers import deadletters, processing
from workers.catalogue import Catalogue
from workers.config import WorkerSettings


async def process(
    db_pool: Pool, catalogue: Catalogue, settings: WorkerSettings, *, limit: int | None = None
) -> processing.ProcessResult:
    return await processing.process_available(db_pool, catalogue, settings, limit=limit)


async def readings_of(db_pool: Pool, device_id: int) -> list[tuple[object, ...]]:
    async with db_pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT sensor_id, time, raw_value, value FROM readings"
            " WHERE device_id = $1 ORDER BY sensor_id, time",
            device_id,
        )
    return [
        (r["sensor_id"], timeparse.to_micros(r["time"]), r["raw_value"], r["value"]) for r in rows
    ]


async def latest_of(db_pool: Pool, device_id: int) -> dict[int, tuple[object, ...]]:
    async with db_pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT sensor_id, time, value, prev_time, prev_value FROM latest_readings"
            " WHERE device_id = $1 ORDER BY sensor_id",
            device_id,
        )
    return {
        r["sensor_id"]: (
            timeparse.to_micros(r["time"]),
            r["value"],
            timeparse.to_micros(r["prev_time"]) if r["prev_time"] else None,
            r["prev_value"],
        )
        for r in rows
    }


async def staged_count(db_pool: Pool) -> int:
    async with db_pool.acquire() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM ingest_batches"))


async def test_readings_are_calibrated_and_stored(db_pool, catalogue, settings, device, stage):
    await stage(
        (
            device,
            [
                (T0, sck.TEMP, 25132),
                (T0, sck.LIGHT, 30000),
                (T0, sck.NOISE, 1237.5),
                (T0, sck.NO2, 52000),
            ],
        )
    )

    result = await process(db_pool, catalogue, settings)

    assert result == processing.ProcessResult(
        claimed=1, batches=1, readings=4, stored=4, duplicates=0
    )
    rows = await readings_of(db_pool, device)
    assert [row[:3] for row in rows] == [
        (sck.NOISE, T0, 1237.5),
        (sck.TEMP, T0, 25132),
        (sck.LIGHT, T0, 3000),
        (sck.NO2, T0, 52),
    ]
    values = [row[3] for row in rows]
    assert values[0] == pytest.approx(80.5)
    assert values[1] == pytest.approx(14.3858, abs=1e-3)
    assert values[2:] == [3000, 52]
    assert await staged_count(db_pool) == 0


async def test_nothing_staged(db_pool, catalogue, settings):
    assert await process(db_pool, catalogue, settings) == processing.ProcessResult()


async def test_non_finite_calibrations_are_stored_as_null(
    db_pool, catalogue, settings, device, stage
):
    async with db_pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO sensors (id, name, equation, reverse_equation)"
            " VALUES (901, 'odd', 'log(x)', '1/x')"
        )
    await stage((device, [(T0, 901, 0.0), (T0 + MINUTE, 901, -2.0), (T0 + 2 * MINUTE, 901, 1.0)]))

    await process(db_pool, catalogue, settings)

    assert await readings_of(db_pool, device) == [
        (901, T0, None, None),
        (901, T0 + MINUTE, -0.5, None),
        (901, T0 + 2 * MINUTE, 1.0, 0.0),
    ]
    assert (await latest_of(db_pool, device))[901] == (T0 + 2 * MINUTE, 0.0, T0 + MINUTE, None)


async def test_repeats_are_counted_and_never_overwrite(db_pool, catalogue, settings, device, stage):
    await stage((device, [(T0, sck.LIGHT, 1000), (T0 + MINUTE, sck.LIGHT, 2000)]))
    await process(db_pool, catalogue, settings)
    await stage(
        (
            device,
            [
                (T0, sck.LIGHT, 9990),
                (T0 + MINUTE, sck.LIGHT, 9990),
                (T0 + 2 * MINUTE, sck.LIGHT, 3000),
            ],
        )
    )

    result = await process(db_pool, catalogue, settings)

    assert (result.stored, result.duplicates, result.batches) == (1, 2, 1)
    assert await readings_of(db_pool, device) == [
        (sck.LIGHT, T0, 100, 100),
        (sck.LIGHT, T0 + MINUTE, 200, 200),
        (sck.LIGHT, T0 + 2 * MINUTE, 300, 300),
    ]
    assert await staged_count(db_pool) == 0


async def test_a_reading_staged_twice_in_one_claim_is_stored_once(
    db_pool, catalogue, settings, device, stage
):
    await stage(
        (device, [(T0, sck.BAT, 500), (T0 + MINUTE, sck.BAT, 600)]),
        (device, [(T0 + MINUTE, sck.BAT, 600), (T0 + 2 * MINUTE, sck.BAT, 700)]),
    )

    result = await process(db_pool, catalogue, settings)

    assert (result.batches, result.stored, result.duplicates) == (2, 3, 1)
    assert [row[3] for row in await readings_of(db_pool, device)] == [50, 60, 70]


async def test_the_deduplicating_path_works_twice_on_one_connection(
    db_pool, catalogue, settings, device, stage
):
    for value in (100, 200, 300):  # each claim meets a duplicate, on the pool's one connection
        await stage((device, [(T0, sck.NETS, value), (T0 + value, sck.NETS, value)]))
        result = await process(db_pool, catalogue, settings)
        assert (result.stored, result.duplicates) == ((2, 0) if value == 100 else (1, 1))
    assert len(await readings_of(db_pool, device)) == 4


async def test_latest_moves_only_forward(db_pool, catalogue, settings, device, stage):
    await stage((device, [(T0 + 10 * MINUTE, sck.NETS, 10), (T0 + 9 * MINUTE, sck.NETS, 9)]))
    await process(db_pool, catalogue, settings)
    assert (await latest_of(db_pool, device))[sck.NETS] == (
        T0 + 10 * MINUTE,
        10,
        T0 + 9 * MINUTE,
        9,
    )

    await stage((device, [(T0 + 5 * MINUTE, sck.NETS, 5)]))  # late: history only
    await process(db_pool, catalogue, settings)
    assert (await latest_of(db_pool, device))[sck.NETS] == (
        T0 + 10 * MINUTE,
        10,
        T0 + 9 * MINUTE,
        9,
    )

    await stage((device, [(T0 + 11 * MINUTE, sck.NETS, 11)]))  # the old latest becomes prev
    await process(db_pool, catalogue, settings)
    assert (await latest_of(db_pool, device))[sck.NETS] == (
        T0 + 11 * MINUTE,
        11,
        T0 + 10 * MINUTE,
        10,
    )

    # Two newer readings: prev is the newer of the claim's two, not the old latest.
    await stage((device, [(T0 + 13 * MINUTE, sck.NETS, 13), (T0 + 12 * MINUTE, sck.NETS, 12)]))
    await process(db_pool, catalogue, settings)
    assert (await latest_of(db_pool, device))[sck.NETS] == (
        T0 + 13 * MINUTE,
        13,
        T0 + 12 * MINUTE,
        12,
    )
    assert len(await readings_of(db_pool, device)) == 6


async def test_latest_of_several_devices_and_sensors_in_one_claim(
    db_pool, catalogue, settings, make_device, stage
):
    first, second = await make_device("first"), await make_device("second")
    await stage(
        (second, [(T0, sck.TEMP, 25132)]),
        (first, [(T0, sck.NETS, 1), (T0 + MINUTE, sck.NETS, 2), (T0, sck.BAT, 900)]),
    )

    await process(db_pool, catalogue, settings)

    assert await latest_of(db_pool, first) == {
        sck.BAT: (T0, 90, None, None),
        sck.NETS: (T0 + MINUTE, 2, T0, 1),
    }
    assert list(await latest_of(db_pool, second)) == [sck.TEMP]


async def test_components_and_device_times(db_pool, catalogue, settings, device, stage):
    async with db_pool.acquire() as conn:
        await conn.execute("INSERT INTO sensors (id, name) VALUES (902, 'keyless')")
    await stage((device, [(T0, sck.TEMP, 1), (T0 + 5 * MINUTE, sck.HUM, 1), (T0, 902, 1)]))

    await process(db_pool, catalogue, settings)
    await stage((device, [(T0 - MINUTE, sck.TEMP, 1)]))  # older: last_reading_at stays
    await process(db_pool, catalogue, settings)

    async with db_pool.acquire() as conn:
        components = await conn.fetch(
            "SELECT sensor_id, key FROM components WHERE device_id = $1 ORDER BY sensor_id", device
        )
        touched = await conn.fetchrow(
            "SELECT last_reading_at, last_posted_at FROM devices WHERE id = $1", device
        )
    assert [tuple(c) for c in components] == [(sck.TEMP, "temp"), (sck.HUM, "hum"), (902, "902")]
    assert timeparse.to_micros(touched["last_reading_at"]) == T0 + 5 * MINUTE
    assert touched["last_posted_at"] is not None


async def test_readings_of_a_deleted_device_are_stored_without_components(
    db_pool, catalogue, settings, stage
):
    await stage((424242, [(T0, sck.TEMP, 25132)]))

    result = await process(db_pool, catalogue, settings)

    assert result.stored == 1
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM components") == 0
        assert await conn.fetchval("SELECT count(*) FROM latest_readings") == 1


async def test_readings_of_sensors_not_in_the_catalogue_are_dropped(
    db_pool, catalogue, settings, device, stage, caplog
):
    await stage((device, [(T0, sck.TEMP, 25132), (T0, 4040, 1.0), (T0 + MINUTE, 4040, 2.0)]))

    result = await process(db_pool, catalogue, settings)

    assert (result.batches, result.readings, result.stored, result.dropped) == (1, 3, 1, 2)
    assert [row[0] for row in await readings_of(db_pool, device)] == [sck.TEMP]
    assert await staged_count(db_pool) == 0
    assert any(r.__dict__.get("action") == "readings_dropped" for r in caplog.records)


async def test_a_sensor_added_after_the_catalogue_was_loaded_is_calibrated(
    db_pool, catalogue, settings, device, stage
):
    await stage((device, [(T0, sck.TEMP, 25132)]))
    await process(db_pool, catalogue, settings)  # loads the catalogue
    async with db_pool.acquire() as conn:
        await conn.execute("INSERT INTO sensors (id, name, equation) VALUES (903, 'new', '2 * x')")
    await stage((device, [(T0, 903, 21.0)]))

    result = await process(db_pool, catalogue, settings)

    assert (result.stored, result.dropped) == (1, 0)
    assert (await readings_of(db_pool, device))[-1] == (903, T0, 21.0, 42.0)


async def test_a_claim_takes_at_most_its_limit(db_pool, catalogue, settings, device, stage):
    await stage(*[(device, [(T0 + i * MINUTE, sck.NETS, i)]) for i in range(5)])

    first = await process(db_pool, catalogue, settings, limit=2)
    rest = await process(db_pool, catalogue, settings, limit=10)

    assert (first.claimed, first.stored, first.full) == (2, 2, True)
    assert (rest.claimed, rest.stored, rest.full) == (3, 3, False)


async def dead_letters(db_pool: Pool) -> list[DeadLetter]:
    async with db_pool.acquire() as conn:
        return await batches.dead_letters(conn)


async def test_a_malformed_batch_moves_to_dead_letters_while_its_neighbours_are_stored(
    db_pool, catalogue, settings, device, stage
):
    await stage((device, [(T0, sck.NETS, 1)]))
    async with db_pool.acquire() as conn:
        await batches.stage(conn, [(device, b"\x05\x00\x00\x00garbage", 5)])
    await stage((device, [(T0 + MINUTE, sck.NETS, 2)]))

    first = await process(db_pool, catalogue, settings)

    assert (first.batches, first.stored, first.failed, first.dead_lettered) == (2, 2, 1, 0)
    assert await dead_letters(db_pool) == []
    results = [
        await process(db_pool, catalogue, settings) for _ in range(settings.max_attempts - 1)
    ]
    result = results[-1]
    assert (result.claimed, result.failed, result.dead_lettered) == (1, 1, 1)
    (letter,) = await dead_letters(db_pool)
    assert (letter.device_id, letter.attempts) == (device, settings.max_attempts)
    assert "malformed payload" in letter.error
    assert await staged_count(db_pool) == 0
    assert len(await readings_of(db_pool, device)) == 2


async def test_a_batch_the_database_rejects_is_retried_alone_then_dead_lettered(
    db_pool, catalogue, settings, device, stage
):
    await stage(
        (device, [(T0, sck.NETS, 1)]),
        (device, [(-(1 << 62), sck.NETS, 2)]),  # before 4713 BC: beyond PostgreSQL's range
        (device, [(T0 + MINUTE, sck.NETS, 3)]),
    )

    first = await process(db_pool, catalogue, settings)

    assert (first.claimed, first.batches, first.stored, first.failed) == (3, 2, 2, 1)
    async with db_pool.acquire() as conn:
        attempts, error = await conn.fetchrow("SELECT attempts, last_error FROM ingest_batches")
    assert attempts == 1 and "out of range" in error
    for _ in range(settings.max_attempts - 1):
        await process(db_pool, catalogue, settings)
    (letter,) = await dead_letters(db_pool)
    assert letter.attempts == settings.max_attempts and "out of range" in letter.error
    assert [row[3] for row in await readings_of(db_pool, device)] == [1, 3]


async def test_a_deleted_component_comes_back_after_the_catalogue_refresh(
    db_pool, settings, device, stage
):
    now = [0.0]
    catalogue = Catalogue(60.0, clock=lambda: now[0])

    async def components() -> int:
        async with db_pool.acquire() as conn:
            return int(await conn.fetchval("SELECT count(*) FROM components"))

    await stage((device, [(T0, sck.NETS, 1)]))
    await process(db_pool, catalogue, settings)
    assert await components() == 1
    async with db_pool.acquire() as conn:
        await conn.execute("DELETE FROM components")

    await stage((device, [(T0 + MINUTE, sck.NETS, 1)]))
    await process(db_pool, catalogue, settings)
    assert await components() == 0  # known to this worker: not written again yet

    now[0] += 61.0
    await stage((device, [(T0 + 2 * MINUTE, sck.NETS, 1)]))
    await process(db_pool, catalogue, settings)
    assert await components() == 1


async def test_concurrent_claims_store_every_reading_once(db_pool, settings, make_device, stage):
    devices = [await make_device(f"d{i}") for i in range(4)]
    sensors = [sck.NETS, sck.BAT, sck.TEMP]
    staged = [
        (device, [(T0 + (b * 3 + i) * MINUTE, sensor, b) for i in range(3) for sensor in sensors])
        for b in range(15)
        for device in devices
    ]
    await stage(*staged)

    async def drain() -> processing.ProcessResult:
        catalogue, total = Catalogue(60.0), processing.ProcessResult()
        while (result := await process(db_pool, catalogue, settings, limit=3)).claimed:
            total = total.plus(result)
        return total

    results = await asyncio.gather(drain(), drain(), drain())

    assert sum(r.batches for r in results) == len(staged)
    assert sum(r.stored for r in results) == len(staged) * 9
    assert sum(r.duplicates for r in results) == 0
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM readings") == len(staged) * 9
        latest = await conn.fetch("SELECT DISTINCT time FROM latest_readings")
    assert [timeparse.to_micros(row["time"]) for row in latest] == [T0 + 44 * MINUTE]


async def test_a_dead_letter_replayed_after_its_cause_is_fixed_is_stored(
    db_pool, catalogue, settings, device, stage
):
    async with db_pool.acquire() as conn:
        await conn.execute("UPDATE sensors SET equation = '2 * (x' WHERE id = $1", sck.NETS)
    async with db_pool.acquire() as conn:
        await catalogue.reload(conn)
    await stage((device, [(T0, sck.NETS, 4)]))
    for _ in range(settings.max_attempts):
        await process(db_pool, catalogue, settings)
    (letter,) = await deadletters.pending(db_pool)
    assert await readings_of(db_pool, device) == []

    async with db_pool.acquire() as conn:
        await conn.execute("UPDATE sensors SET equation = '2 * x' WHERE id = $1", sck.NETS)
    replayed = await deadletters.replay(db_pool, [letter.id, letter.id])
    assert replayed[letter.id] is None  # the second replay of the same letter does nothing
    assert await staged_count(db_pool) == 1
    async with db_pool.acquire() as conn:
        await catalogue.reload(conn)
    result = await process(db_pool, catalogue, settings)

    assert result.stored == 1
    assert [(r[0], r[2], r[3]) for r in await readings_of(db_pool, device)] == [(sck.NETS, 4, 8)]
    assert await deadletters.pending(db_pool) == []
