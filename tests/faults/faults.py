"""Injecting faults into the launched platform, and waiting for it to get over them."""

from __future__ import annotations

import asyncio
import signal
import time

import asyncpg

from scripts import launcher
from tests.faults import ledger
from tests.support import eventually


async def kill(platform: launcher.Platform, group: str, index: int, signum: int = signal.SIGKILL):
    """Send `signum` to one process of `group` and wait until it has exited; returns the
    time.monotonic() of the signal and the exit status."""
    process = platform.processes[group][index]
    assert process.popen is not None and process.running(), f"{process.name} is not running"
    moment = time.monotonic()
    process.popen.send_signal(signum)
    status = await asyncio.to_thread(process.popen.wait, 60)
    return moment, status


async def restart(platform: launcher.Platform, group: str, index: int) -> None:
    """Start again a process that has exited (as the launcher's supervision would)."""
    await asyncio.to_thread(platform.restart, group, index)


async def staged(pool: asyncpg.Pool) -> int:
    """Batches waiting in staging."""
    return int(await pool.fetchval("SELECT count(*) FROM ingest_batches"))


async def drained(pool: asyncpg.Pool, *, within_s: float = 120.0) -> float:
    """Wait until staging is empty; returns how long that took (seconds)."""
    began = time.monotonic()

    async def empty() -> bool:
        """The staging backlog drained"""
        return await staged(pool) == 0

    await eventually(empty, within_s=within_s, interval_s=0.1)
    return time.monotonic() - began


async def wind_down(
    load: ledger.LoadGenerator, sending: asyncio.Task[None], pool: asyncpg.Pool, *, tail_s: float
) -> float:
    """Keep the load on for `tail_s` after the last fault, stop it, and wait until staging is
    empty; returns how long the draining took (seconds)."""
    await asyncio.sleep(tail_s)
    load.stop()
    await sending
    return await drained(pool, within_s=120)


async def dead_letters(pool: asyncpg.Pool) -> int:
    """Batches the workers gave up on."""
    return int(await pool.fetchval("SELECT count(*) FROM dead_letters"))
