"""Workers SIGKILLed at random moments under load lose and duplicate nothing, and catch up.

Devices post without pause through nginx while the only worker is killed again and again, at
random moments (sometimes in the middle of a claim's transaction), and started again at once as
the launcher's supervision would. Every acknowledged reading must end up stored exactly once
with the value sent, and the staging backlog must drain once the load stops. A kill's recovery
time runs from the kill until the new worker is listening and every batch staged before the
kill has been stored.
"""

from __future__ import annotations

import asyncio
import random
import time

from tests.faults import faults, ledger, sized
from tests.support import eventually

KILLS = sized(6, 20)
GAP_S = sized((0.2, 2.0), (0.5, 5.0))  # load between faults: from, to (seconds)
TAIL_S = 2.0  # load after the last fault
RATE_PER_S = 40.0  # requests/s of 100 readings: 4,000 readings/s


async def test_sigkilled_workers_under_load_lose_and_duplicate_nothing(
    start_platform, sck21, db_pool, fault_report
):
    platform = start_platform(gateways=1, workers=1, queries=1)
    book = ledger.Ledger()
    load = ledger.LoadGenerator(platform.base_url, sck21, book)
    sending = asyncio.create_task(
        load.run(duration_s=3600, concurrency=8, rate_per_s=RATE_PER_S), name="fault-load"
    )
    chance = random.Random(KILLS)
    recoveries: list[float] = []
    mid_claim = 0
    for kill in range(KILLS):
        await asyncio.sleep(chance.uniform(*GAP_S))
        if kill % 2:  # every other kill waits for a claim's transaction to be open
            await eventually(lambda: _claiming(db_pool), within_s=30, interval_s=0.001)
        mid_claim += await _claiming(db_pool)
        killed_at, status = await faults.kill(platform, "worker", 0)
        assert status < 0, "the worker was not running when it was killed"
        staged_before = await db_pool.fetchval("SELECT now()")
        await faults.restart(platform, "worker", 0)
        await _recovered(platform, db_pool, staged_before)
        recoveries.append(time.monotonic() - killed_at)
    drain_s = await faults.wind_down(load, sending, db_pool, tail_s=TAIL_S)

    verdict = await book.verify(db_pool)
    fault_report(faults=KILLS, verdict=verdict, recovery_s=max([*recoveries, drain_s]))
    verdict.assert_clean()
    assert verdict.acknowledged > 0, f"nothing was acknowledged: {book.outcomes}"
    assert verdict.acknowledged == verdict.sent, f"readings left unacknowledged: {book.outcomes}"
    assert await faults.dead_letters(db_pool) == 0
    assert mid_claim > 0, "no kill caught the worker with a claim open"


async def _claiming(db_pool) -> bool:
    """A worker's claim transaction is open (it holds row locks on staged batches)."""
    return bool(
        await db_pool.fetchval(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
            " WHERE c.relname = 'ingest_batches' AND l.mode = 'RowShareLock'"
            " AND l.pid <> pg_backend_pid()"
        )
    )


async def _recovered(platform, db_pool, staged_before) -> None:
    """Wait until the restarted worker listens and has stored every batch staged before the
    kill (the batches its killed predecessor held among them)."""
    process = platform.processes["worker"][0]
    ready = f"worker ready (pid {process.popen.pid})"

    async def listening() -> bool:
        """The restarted worker is listening"""
        return ready in process.log.read_text(errors="replace")

    async def caught_up() -> bool:
        """Every batch staged before the kill is stored"""
        oldest = await db_pool.fetchval("SELECT min(received_at) FROM ingest_batches")
        return oldest is None or oldest > staged_before

    await eventually(listening, within_s=60, interval_s=0.05)
    await eventually(caught_up, within_s=60, interval_s=0.05)
