"""A gateway SIGKILLed under load loses and duplicates nothing, and serves again once restarted.

Devices post straight to the only gateway, so while it is down their requests are refused or
cut, and they retry (the same batch, byte for byte) as devices do. The gateway is killed at
random moments (sometimes with a group commit in flight, whose batches the device then sends
again) and started again at once, as the launcher's supervision would. Every acknowledged
reading must be stored exactly once with the value sent; readings whose answer was cut off may
be stored, but only once, as a retried batch is stored again only as duplicates the workers
skip. A kill's recovery time runs from the kill until a device's post is acknowledged again.
"""

from __future__ import annotations

import asyncio
import random

from tests.faults import faults, ledger, sized
from tests.support import eventually

KILLS = sized(5, 15)
GAP_S = sized((0.3, 2.0), (0.5, 6.0))  # load between faults: from, to (seconds)
TAIL_S = 2.0  # load after the last fault
RATE_PER_S = 40.0  # requests/s of 100 readings: 4,000 readings/s


async def test_sigkilled_gateway_under_load_loses_and_duplicates_nothing(
    start_platform, sck21, db_pool, fault_report
):
    platform = start_platform(gateways=1, workers=1, queries=1)
    gateway_url = f"http://127.0.0.1:{platform.layout.gateway_ports()[0]}"
    book = ledger.Ledger()
    load = ledger.LoadGenerator(gateway_url, sck21, book, max_backoff_s=0.2)
    sending = asyncio.create_task(
        load.run(duration_s=3600, concurrency=8, rate_per_s=RATE_PER_S), name="fault-load"
    )
    chance = random.Random(KILLS)
    recoveries: list[float] = []
    for _ in range(KILLS):
        await asyncio.sleep(chance.uniform(*GAP_S))
        killed_at, status = await faults.kill(platform, "gateway", 0)
        assert status < 0, "the gateway was not running when it was killed"
        await faults.restart(platform, "gateway", 0)

        async def served(killed_at: float = killed_at) -> float | None:
            """A post was acknowledged after the kill"""
            return load.ok_after(killed_at)

        recoveries.append(await eventually(served, within_s=60) - killed_at)
    await faults.wind_down(load, sending, db_pool, tail_s=TAIL_S)

    verdict = await book.verify(db_pool)
    fault_report(faults=KILLS, verdict=verdict, recovery_s=max(recoveries))
    verdict.assert_clean()
    assert verdict.acknowledged == verdict.sent, f"readings left unacknowledged: {book.outcomes}"
    assert book.outcomes["unknown"] > 0, "no post was refused or cut: the kills missed the load"
    assert await faults.dead_letters(db_pool) == 0
