"""Purging deleted devices: slice by slice, only deleted devices, marked once nothing is left
and no gateway can still stage for them, and in the background of a running worker."""

from __future__ import annotations

import asyncio
import logging

from tests.integration.workers.support import DAY, HOUR, MINUTE, T0
from tests.support import eventually
from tests.unit.workers import sck
from workers import processing, purge, worker

TABLES = (
    "readings",
    "readings_hourly",
    "readings_daily",
    "latest_readings",
    "ingest_batches",
    "dead_letters",
)


def _readings(count, sensors=(sck.NETS, sck.BAT)):
    """`count` readings per sensor, an hour apart over several days."""
    return [(T0 + i * HOUR + MINUTE, sensor, i) for i in range(count) for sensor in sensors]


async def _rows(db_pool, device_id):
    async with db_pool.acquire() as conn:
        return {
            table: await conn.fetchval(
                f"SELECT count(*) FROM {table} WHERE device_id = $1",  # our names, not input
                device_id,
            )
            for table in TABLES
        }


async def _fleet(db_pool, make_device, stage, settings, catalogue):
    """Two devices with stored readings, rollups and latest values; the first deleted, with a
    batch still staged and a dead letter."""
    doomed, kept = await make_device("doomed"), await make_device("kept")
    await stage((doomed, _readings(60)), (kept, _readings(30)))
    result = await processing.process_available(db_pool, catalogue, settings)
    assert result.stored == 180
    await stage((doomed, [(T0 + 10 * DAY, sck.NETS, 1)]))
    async with db_pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO dead_letters (batch_id, device_id, received_at, n_readings, payload,"
            " attempts, error) VALUES (1, $1, now(), 1, '\\x00', 5, 'broken')",
            doomed,
        )
        await conn.execute("UPDATE devices SET deleted_at = now() WHERE id = $1", doomed)
    return doomed, kept


async def _purged_at(db_pool, device_id):
    async with db_pool.acquire() as conn:
        return await conn.fetchval("SELECT purged_at FROM devices WHERE id = $1", device_id)


async def test_a_deleted_device_is_purged_slice_by_slice(
    db_pool, make_device, stage, settings, catalogue
):
    doomed, kept = await _fleet(db_pool, make_device, stage, settings, catalogue)
    before = await _rows(db_pool, doomed)
    assert before["readings"] == 120 and before["readings_hourly"] == 120
    assert before["readings_daily"] > 0 and before["latest_readings"] == 2
    assert before["ingest_batches"] == 1 and before["dead_letters"] == 1
    kept_before = await _rows(db_pool, kept)
    purger = purge.Purger(purge.PurgeSettings(slice_rows=25, settle_s=0))

    slices = []
    while (done := await purger.purge_slice(db_pool, skip=[])) is not None:
        slices.append(done)
    # No slice deleted more than its bound; the last found nothing and marked the device.
    assert all(s.device_id == doomed for s in slices)
    assert all(0 < s.deleted <= 25 for s in slices[:-1])
    assert (slices[-1].deleted, slices[-1].purged) == (0, True)
    assert sum(s.deleted for s in slices) == sum(before.values())
    assert len(slices) > sum(before.values()) // 25
    assert await _rows(db_pool, doomed) == dict.fromkeys(TABLES, 0)
    assert await _purged_at(db_pool, doomed) is not None
    assert await _rows(db_pool, kept) == kept_before  # nothing of a live device is touched
    assert await purger.purge_round(db_pool) == purge.Round()


async def test_a_recently_deleted_device_is_emptied_but_not_marked_until_it_settles(
    db_pool, make_device, stage, settings, catalogue
):
    doomed, _ = await _fleet(db_pool, make_device, stage, settings, catalogue)
    purger = purge.Purger(purge.PurgeSettings(settle_s=3600))
    first = await purger.purge_round(db_pool)
    assert first.deleted > 0 and first.purged == ()
    assert await _purged_at(db_pool, doomed) is None
    # A gateway that still had the device in its cache stages one more batch: it is purged too.
    await stage((doomed, [(T0 + 11 * DAY, sck.NETS, 1)]))
    again = await purger.purge_round(db_pool)
    assert again == purge.Round(deleted=1)
    async with db_pool.acquire() as conn:
        await conn.execute(
            "UPDATE devices SET deleted_at = now() - interval '2 hours' WHERE id = $1", doomed
        )
    assert await purger.purge_round(db_pool) == purge.Round(purged=(doomed,))
    assert await _purged_at(db_pool, doomed) is not None


async def test_purgers_working_together_share_the_devices(
    db_pool, make_device, stage, settings, catalogue
):
    devices = [await make_device(f"d{i}") for i in range(4)]
    await stage(*[(device, _readings(20)) for device in devices])
    await processing.process_available(db_pool, catalogue, settings)
    async with db_pool.acquire() as conn:
        await conn.execute("UPDATE devices SET deleted_at = now()")
    purgers = [purge.Purger(purge.PurgeSettings(slice_rows=10, settle_s=0)) for _ in range(3)]
    rounds = await asyncio.gather(*(p.purge_round(db_pool) for p in purgers))
    assert sorted(d for r in rounds for d in r.purged) == sorted(devices)
    # Each: 40 readings, 40 hourly and 2 daily rollups, 2 latest values.
    assert sum(r.deleted for r in rounds) == 4 * (40 + 40 + 2 + 2)
    for device in devices:
        assert await _rows(db_pool, device) == dict.fromkeys(TABLES, 0)


async def test_a_running_worker_purges_in_the_background(
    db_pool, make_device, stage, settings, catalogue, caplog
):
    doomed, kept = await _fleet(db_pool, make_device, stage, settings, catalogue)
    caplog.set_level(logging.INFO, logger="workers.purge")
    stop = asyncio.Event()
    purger = purge.Purger(purge.PurgeSettings(interval_s=0.05, slice_rows=50, settle_s=0))
    running = worker.Worker(settings, pool=db_pool, purger=purger)
    task = asyncio.create_task(running.run(stop), name="test-worker")
    try:

        async def purged():
            actions = [getattr(record, "action", None) for record in caplog.records]
            return "device_purged" in actions and await _purged_at(db_pool, doomed)

        await eventually(purged, what="the deleted device being purged")
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=20)
    assert await _rows(db_pool, doomed) == dict.fromkeys(TABLES, 0)
    assert (await _rows(db_pool, kept))["readings"] == 60
    actions = [getattr(record, "action", None) for record in caplog.records]
    assert "purge_progress" in actions and "device_purged" in actions
