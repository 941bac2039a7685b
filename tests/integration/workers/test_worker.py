"""The worker loop: woken by NOTIFY, surviving terminated connections, stopping cleanly, and
`python -m workers` as a process."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from storage import pool as storage_pool
from storage.config import DatabaseSettings
from tests.integration.workers.support import MINUTE, T0
from tests.support import eventually
from tests.unit.workers import sck
from workers import config, worker

PROJECT_ROOT = Path(__file__).resolve().parents[3]


async def stored(db_settings: DatabaseSettings, expected: int) -> bool:
    """Whether `expected` readings are stored (asked on a fresh connection: others may die)."""
    conn = await storage_pool.connect(db_settings)
    try:
        return bool(await conn.fetchval("SELECT count(*) FROM readings") == expected)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def running(settings: config.WorkerSettings) -> AsyncIterator[worker.Worker]:
    """A worker running as a task; stopped, and checked to have stopped cleanly, on exit."""
    stop = asyncio.Event()
    running_worker = worker.Worker(settings)
    task = asyncio.create_task(running_worker.run(stop), name="test-worker")
    try:
        await asyncio.wait_for(running_worker.ready.wait(), timeout=20)
        yield running_worker
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=20)  # raises what the worker raised


async def test_a_notification_wakes_the_worker(settings, device, stage, db_settings):
    # Without a notification it would sleep for a minute.
    quiet = dataclasses.replace(settings, poll_interval_s=60.0)
    async with running(quiet) as running_worker:
        await stage((device, [(T0, sck.NETS, 1), (T0 + MINUTE, sck.NETS, 2)]))
        await eventually(lambda: stored(db_settings, 2), what="the batch being stored")
    assert running_worker.totals.stored == 2
    assert running_worker.listens == 1


async def test_batches_arriving_while_the_worker_gathers_share_one_claim(
    settings, device, stage, db_settings
):
    gathering = dataclasses.replace(settings, poll_interval_s=60.0, claim_wait_ms=2000.0)
    async with running(gathering) as running_worker:

        async def first_claim_made():
            return running_worker.claims >= 1  # the claim at start, which found nothing

        await eventually(first_claim_made)
        await stage((device, [(T0, sck.NETS, 1)]))
        await stage((device, [(T0 + MINUTE, sck.NETS, 2)]))
        await eventually(lambda: stored(db_settings, 2), what="both batches being stored")
    assert running_worker.totals.batches == 2
    assert running_worker.claims == 2


async def test_the_worker_reconnects_after_its_connections_are_terminated(
    settings, device, stage, db_settings
):
    quiet = dataclasses.replace(settings, poll_interval_s=60.0)
    async with running(quiet) as running_worker:
        await stage((device, [(T0, sck.NETS, 1)]))
        await eventually(lambda: stored(db_settings, 1), what="the first batch")

        killer = await storage_pool.connect(db_settings)
        try:
            terminated = await killer.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await killer.close()
        assert terminated >= 2  # the pool's connection and the LISTEN connection

        async def listening_again() -> bool:
            return running_worker.listens == 2 and running_worker.ready.is_set()

        await eventually(listening_again, what="the worker listening again")
        fresh_pool = await storage_pool.open(db_settings)
        try:
            await stage((device, [(T0 + MINUTE, sck.NETS, 2)]), pool=fresh_pool)
        finally:
            await storage_pool.close(fresh_pool, timeout=10)
        await eventually(lambda: stored(db_settings, 2), what="the second batch")


async def test_the_worker_stops_and_closes_its_connections(settings, db_settings):
    async with running(settings):
        pass
    conn = await storage_pool.connect(db_settings)
    try:
        others = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    # The test's own pool (db_pool) is not used here, so only the worker could be left.
    assert others == 0


async def blocked_on_a_lock(db_settings: DatabaseSettings) -> bool:
    conn = await storage_pool.connect(db_settings)
    try:
        return bool(
            await conn.fetchval(
                "SELECT count(*) > 0 FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def latest_readings_locked(db_pool: storage_pool.Pool) -> AsyncIterator[None]:
    """Hold an exclusive lock on latest_readings, so a claim blocks in the middle."""
    async with db_pool.acquire() as conn, conn.transaction():
        await conn.execute("LOCK TABLE latest_readings IN ACCESS EXCLUSIVE MODE")
        yield


async def test_a_stop_lets_the_claim_in_flight_commit(
    settings, device, stage, db_settings, db_pool
):
    stop = asyncio.Event()
    draining = worker.Worker(dataclasses.replace(settings, shutdown_timeout_s=60.0))
    task = asyncio.create_task(draining.run(stop))
    try:
        async with latest_readings_locked(db_pool):
            await stage((device, [(T0, sck.NETS, 1)]))
            await eventually(lambda: blocked_on_a_lock(db_settings), what="the claim blocking")
            stop.set()  # while the claim is blocked: it must still commit
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=20)
    assert await stored(db_settings, 1)
    assert draining.totals.batches == 1


async def test_a_claim_still_blocked_at_the_shutdown_timeout_is_rolled_back(
    settings, device, stage, db_settings, db_pool
):
    stop = asyncio.Event()
    impatient = worker.Worker(dataclasses.replace(settings, shutdown_timeout_s=0.2))
    task = asyncio.create_task(impatient.run(stop))
    try:
        async with latest_readings_locked(db_pool):
            await stage((device, [(T0, sck.NETS, 1)]))
            await eventually(lambda: blocked_on_a_lock(db_settings), what="the claim blocking")
            stop.set()
            await asyncio.wait_for(task, timeout=20)  # returns while the lock is still held
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=20)
    assert await stored(db_settings, 0)
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM ingest_batches") == 1
    assert impatient.totals.batches == 0


async def test_the_worker_keeps_retrying_an_unreachable_database(settings, db_settings, caplog):
    unreachable = dataclasses.replace(
        settings, db=dataclasses.replace(db_settings, dsn="postgresql://nobody@127.0.0.1:1/none")
    )
    stop = asyncio.Event()
    waiting = worker.Worker(unreachable)
    task = asyncio.create_task(waiting.run(stop))

    async def retried_twice() -> bool:
        assert not task.done(), "the worker gave up"
        warnings = [r for r in caplog.records if getattr(r, "action", "") == "database_unavailable"]
        return len(warnings) >= 2

    try:
        await eventually(retried_twice, what="two connection attempts")
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=20)
    assert waiting.listens == 0


async def test_python_m_workers_runs_and_stops_on_sigterm(database_dsn, device, stage):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "WORKERS_"))}
    env |= {"DATABASE_URL": database_dsn, "WORKERS_LOG_LEVEL": "DEBUG"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "workers", cwd=PROJECT_ROOT, env=env, stderr=asyncio.subprocess.PIPE
    )
    assert process.stderr is not None
    lines: list[str] = []
    try:
        await _read_until(process.stderr, lines, "worker ready")
        await stage((device, [(T0, sck.TEMP, 25132)]))
        await _read_until(process.stderr, lines, "[batch_written]")
        process.send_signal(signal.SIGTERM)
        rest = await asyncio.wait_for(process.stderr.read(), timeout=20)
        code = await asyncio.wait_for(process.wait(), timeout=20)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    log = "\n".join(lines) + rest.decode()
    assert code == 0, log
    assert "worker stopped; stored 1 readings of 1 batches" in log


async def _read_until(stream: asyncio.StreamReader, lines: list[str], marker: str) -> None:
    async def next_line() -> bool:
        line = (await asyncio.wait_for(stream.readline(), timeout=20)).decode()
        if not line:
            raise AssertionError(f"the worker exited before logging {marker!r}: {lines}")
        lines.append(line.rstrip())
        return marker in line

    await eventually(next_line, what=f"the log line {marker!r}")
