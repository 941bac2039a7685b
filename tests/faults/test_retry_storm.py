"""A retry storm: every batch posted three times, batches that overlap, identical posts at once,
and batches repeating readings; each reading is stored exactly once and the repeats are counted.

Devices post through nginx to two gateways served by two workers. Each batch of a device shares
its first steps with the batch before it, and is posted three times: either as three identical
posts at once, or one after the other, or once now and twice after the first copies were stored.
Some bodies also carry a step twice. The gateway answers with what it accepted and, in
`rejected`, the readings a body repeats; a repeat of readings posted in another request is only
found by the worker that stores it, which skips it and counts it (`duplicates` in its
`batch_written` log entries). The stored rows must equal the unique readings exactly, the
rollups must count each once, and the counts in the answers and in the workers' logs must add up.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp

from tests.faults import faults, ledger, sized

BATCHES = sized(300, 1500)  # per device
STEPS, STRIDE = 10, 6  # a batch's steps (10 readings each); the next batch starts STRIDE later
COPIES = 3
CONCURRENCY = 16
_DUPLICATE = "duplicate"


async def test_a_retry_storm_stores_each_reading_once_and_counts_the_repeats(
    start_platform, sck21, db_pool, fault_report, monkeypatch
):
    monkeypatch.setenv("WORKERS_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("WORKERS_LOG_JSON", "1")
    platform = start_platform(gateways=2, workers=2, queries=1)
    book = ledger.Ledger()
    load = ledger.LoadGenerator(platform.base_url, sck21, book)
    tokens = {device.id: device for device in sck21}
    posts: list[tuple[int, ledger.Batch]] = []  # what was posted: one entry per post
    later: list[ledger.Batch] = []
    slots = asyncio.Semaphore(CONCURRENCY)
    give_up = asyncio.get_running_loop().time() + 300

    async def post(http: aiohttp.ClientSession, batch: ledger.Batch) -> None:
        async with slots:
            outcome = await load.send(http, tokens[batch.device_id], batch, give_up=give_up)
        assert outcome == "ok", f"a post was not acknowledged: {book.outcomes}"
        posts.append((batch.device_id, batch))

    async def storm(http: aiohttp.ClientSession, batch: ledger.Batch, way: int) -> None:
        if way == 0:  # three identical posts at once
            await asyncio.gather(*(post(http, batch) for _ in range(COPIES)))
        elif way == 1:  # a device that missed the answers, twice
            for _ in range(COPIES):
                await post(http, batch)
        else:  # posted again once the first copy is stored
            await post(http, batch)
            later.extend([batch] * (COPIES - 1))

    batches = [
        (n, batch) for device in sck21 for n, batch in enumerate(_overlapping(book, device.id))
    ]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        await asyncio.gather(*(storm(http, batch, n % 3) for n, batch in batches))
        await faults.drained(db_pool)
        await asyncio.gather(*(post(http, batch) for batch in later))
    await faults.drained(db_pool)

    verdict = await book.verify(db_pool)
    fault_report(faults=len(posts) - len(batches), verdict=verdict)
    verdict.assert_clean()
    assert verdict.stored == verdict.acknowledged == verdict.sent
    assert await faults.dead_letters(db_pool) == 0
    hourly = await db_pool.fetchval(
        "SELECT sum(count) FROM readings_hourly WHERE device_id = ANY($1)", book.device_ids
    )
    assert hourly == verdict.stored, "the hourly rollups counted a duplicate"

    # The answers: every reading of a body accepted, but a step the body repeats.
    posted = sum(batch.readings for _, batch in posts)
    repeated = sum(_repeated(batch) for _, batch in posts)
    assert load.accepted == posted - repeated
    assert len(load.rejected) == repeated > 0
    assert all(_DUPLICATE in str(r["reason"]) for r in load.rejected), load.rejected[:3]
    # The workers: each accepted reading stored once, or skipped and counted as a duplicate.
    written = _worker_counts([p.log for p in platform.processes["worker"]])
    assert written["stored"] == verdict.stored
    assert written["duplicates"] == load.accepted - verdict.stored > 0
    assert written["readings"] == load.accepted


def _overlapping(book: ledger.Ledger, device_id: int) -> list[ledger.Batch]:
    """Batches of STEPS steps, each starting STRIDE steps after the last (so sharing
    STEPS - STRIDE with it); every fifth carries its first step twice."""
    steps = book.new_steps(device_id, STRIDE * (BATCHES - 1) + STEPS)
    batches = []
    for n in range(BATCHES):
        chosen = steps[n * STRIDE : n * STRIDE + STEPS]
        if n % 5 == 4:
            chosen = [*chosen, chosen[0]]
        batches.append(ledger.batch_of(device_id, chosen))
    return batches


def _repeated(batch: ledger.Batch) -> int:
    """Readings of `batch` at a step it already carried."""
    seen: set[int] = set()
    repeated = 0
    for step in batch.steps:
        if step.time_us in seen:
            repeated += len(step.values)
        seen.add(step.time_us)
    return repeated


def _worker_counts(logs: list[Path]) -> dict[str, int]:
    """The counts of every claim the workers logged (their `batch_written` entries)."""
    totals = {"readings": 0, "stored": 0, "duplicates": 0}
    for log in logs:
        for line in log.read_text().splitlines():
            if not line.startswith("{"):
                continue
            entry = json.loads(line)
            if entry.get("action") == "batch_written":
                for key in totals:
                    totals[key] += entry[key]
    return totals
