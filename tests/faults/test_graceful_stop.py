"""SIGTERM to every process under load: each stops cleanly, no batch is half applied, and after
the restart every acknowledged reading is stored exactly once.

Devices post through nginx to two gateways served by two workers. At a random moment every
gateway, worker and query process gets SIGTERM at once. Each must exit with status 0 (the
gateways answer or refuse what they hold, the workers let the claim in flight commit). While
everything is down, the database must show that nothing acknowledged is missing (each such
reading is stored or still staged) and that no staged batch is half applied (either all of its
readings are in `readings`, or none: a batch and its readings leave staging in one
transaction). Then the processes start again, the devices' retries go through, and the ledger
must be clean once staging drains. A stop's recovery time runs from the SIGTERM until a device's
post is acknowledged again.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from datetime import UTC, datetime, timedelta

from storage import packing
from tests.faults import faults, ledger, sized
from tests.support import eventually

STOPS = sized(2, 6)
GAP_S = sized((1.0, 4.0), (2.0, 15.0))  # load between faults: from, to (seconds)
TAIL_S = 2.0  # load after the last fault
RATE_PER_S = 60.0  # requests/s of 100 readings: 6,000 readings/s
GROUPS = ("gateway", "worker", "query")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


async def test_sigterm_to_every_process_under_load_half_applies_nothing(
    start_platform, sck21, db_pool, fault_report
):
    platform = start_platform(gateways=2, workers=2, queries=1)
    book = ledger.Ledger()
    load = ledger.LoadGenerator(platform.base_url, sck21, book)
    sending = asyncio.create_task(
        load.run(duration_s=3600, concurrency=12, rate_per_s=RATE_PER_S, retry_for_s=120),
        name="fault-load",
    )
    chance = random.Random(STOPS)
    recoveries: list[float] = []

    for _ in range(STOPS):
        await asyncio.sleep(chance.uniform(*GAP_S))
        statuses = await asyncio.gather(
            *(
                faults.kill(platform, group, index, signal.SIGTERM)
                for group in GROUPS
                for index in range(len(platform.processes[group]))
            )
        )
        assert [status for _, status in statuses] == [0] * len(statuses), (
            "a process did not stop cleanly on SIGTERM"
        )
        await _check_stopped(db_pool, book)
        restarted_at = time.monotonic()
        for group in GROUPS:
            for index in range(len(platform.processes[group])):
                await faults.restart(platform, group, index)

        async def served(restarted_at: float = restarted_at) -> float | None:
            """A post sent after the restart was acknowledged"""
            return load.ok_after(restarted_at)

        recoveries.append(await eventually(served, within_s=60) - restarted_at)
    await faults.wind_down(load, sending, db_pool, tail_s=TAIL_S)

    verdict = await book.verify(db_pool)
    fault_report(faults=STOPS, verdict=verdict, recovery_s=max(recoveries))
    verdict.assert_clean()
    assert verdict.acknowledged == verdict.sent, f"readings left unacknowledged: {book.outcomes}"
    assert await faults.dead_letters(db_pool) == 0
    assert book.outcomes["503"] > 0, "no post met the stopped platform: the stops missed the load"
    assert load.statuses[502] == 0, "nginx answered 502: devices read it as a failure, not a retry"


async def _check_stopped(db_pool, book: ledger.Ledger) -> int:
    """With every process stopped: each staged batch is applied wholly or not at all, and each
    reading acknowledged so far is stored or staged. Returns the number of staged batches."""
    staged = await db_pool.fetch("SELECT id, device_id, payload FROM ingest_batches")
    rows = [
        (r["device_id"], r["sensor_id"], r["time"], r["value"])
        for r in await db_pool.fetch(
            "SELECT device_id, sensor_id, time, value FROM readings WHERE device_id = ANY($1)",
            book.device_ids,
        )
    ]
    stored = {(device, sensor, moment) for device, sensor, moment, _ in rows}
    for batch in staged:
        readings = packing.unpack_readings(batch["payload"])
        keys = [
            (batch["device_id"], int(sensor), _EPOCH + timedelta(microseconds=int(t)))
            for t, sensor in zip(readings.times, readings.sensor_ids, strict=True)
        ]
        applied = sum(key in stored for key in keys)
        assert applied in (0, len(keys)), (
            f"staged batch {batch['id']} is half applied: {applied} of {len(keys)} readings stored"
        )
        rows.extend((*key, float(v)) for key, v in zip(keys, readings.values, strict=True))
    verdict = book.judge(rows)  # duplicates allowed here: a stored batch may be staged again
    assert verdict.lost == 0, f"acknowledged readings neither stored nor staged: {verdict}"
    assert verdict.mismatched == verdict.unexpected == 0, verdict
    return len(staged)
