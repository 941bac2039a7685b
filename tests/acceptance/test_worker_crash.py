"""A worker killed with SIGKILL in the middle of a batch loses and duplicates nothing."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import UTC, datetime, timedelta

import aiohttp

from storage import demo
from tests.support import eventually

SENSORS = [10, 53, 55, 56, 58, 87, 88, 89, 112, 113]  # SCK 2.1: calibrated values, no equations
REQUESTS = 200
TIMESTAMPS = 50  # per request: 500 readings, as the official client sends


def _body(request: int, start: datetime) -> tuple[dict, set[tuple[int, datetime, float]]]:
    entries, sent = [], set()
    for step in range(TIMESTAMPS):
        moment = start + timedelta(seconds=request * TIMESTAMPS + step)
        values = [{"id": s, "value": float(request * 1000 + step + s / 1000)} for s in SENSORS]
        entries.append({"recorded_at": moment.isoformat(), "sensors": values})
        sent.update((v["id"], moment, v["value"]) for v in values)
    return {"data": entries}, sent


async def test_sigkilled_workers_leave_every_acknowledged_reading_stored_once(
    start_platform, fleet, db_pool
):
    platform = start_platform(gateways=1, workers=1, queries=1)
    device = next(d for d in fleet.devices if d.kit_id == demo.SCK_2_1)
    (worker_pid,) = platform.pids("worker")
    os.kill(worker_pid, signal.SIGKILL)  # let a backlog build up with no worker running
    platform.processes["worker"][0].wait(10)

    start = datetime(2025, 1, 1, tzinfo=UTC)
    acknowledged: set[tuple[int, datetime, float]] = set()
    async with aiohttp.ClientSession() as http:

        async def post(request: int) -> None:
            body, sent = _body(request, start)
            async with http.post(
                f"{platform.base_url}/v0/devices/{device.id}/readings",
                json=body,
                headers={"Authorization": f"Bearer {device.token}"},
            ) as response:
                assert response.status == 200, await response.text()
                assert (await response.json())["accepted"] == len(sent)
            acknowledged.update(sent)

        await asyncio.gather(*(post(r) for r in range(REQUESTS)))
    assert len(acknowledged) == REQUESTS * TIMESTAMPS * len(SENSORS)

    async def staged() -> int:
        return await db_pool.fetchval("SELECT count(*) FROM ingest_batches")

    async def mid_transaction() -> bool:
        """A worker holds an open transaction that has written rows, or staging is empty."""
        writing = await db_pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
        )
        return writing > 0 or await staged() == 0

    kills = 0
    while kills < 3 and await staged() > 0:
        platform.restart("worker", 0)
        await eventually(mid_transaction, within_s=60, interval_s=0.001)
        if await staged() == 0:
            break
        os.kill(platform.pids("worker")[0], signal.SIGKILL)
        platform.processes["worker"][0].wait(10)
        kills += 1
    assert kills >= 1, "no worker was caught in the middle of a batch"

    platform.restart("worker", 0)

    async def drained() -> bool:
        """Staging is empty."""
        return await staged() == 0

    await eventually(drained, within_s=120)
    rows = await db_pool.fetch(
        "SELECT sensor_id, time, value FROM readings WHERE device_id = $1", device.id
    )
    stored = [(r["sensor_id"], r["time"], r["value"]) for r in rows]
    assert len(stored) == len(set(stored)), "a reading was stored twice"
    assert set(stored) == acknowledged, "stored readings differ from acknowledged ones"
    assert await db_pool.fetchval("SELECT count(*) FROM dead_letters") == 0
