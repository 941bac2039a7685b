"""Group commit: grouping, bounds, errors and draining, with a fake write."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from ingest import errors, staging
from storage import errors as storage_errors


class FakeWrite:
    """Records each group; blocks while `gate` is clear; fails with `error` if set."""

    def __init__(self):
        self.groups = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.in_flight = 0
        self.most_in_flight = 0
        self.started = asyncio.Event()
        self.error = None

    async def __call__(self, submissions):
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        self.started.set()
        try:
            await self.gate.wait()
            if self.error is not None:
                raise self.error
            self.groups.append(list(submissions))
        finally:
            self.in_flight -= 1


@contextlib.asynccontextmanager
async def running(write, **overrides):
    options = {"wait_s": 0.001, "max_readings": 1000, "concurrency": 1, "max_pending": 10_000}
    stager = staging.Stager(write, **{**options, **overrides})
    task = asyncio.create_task(stager.run(), name="test-flusher")
    try:
        yield stager
    finally:
        task.cancel()
        await asyncio.wait([task])
        await stager.drain()


async def test_concurrent_submissions_share_one_write():
    write = FakeWrite()
    async with running(write, wait_s=60, max_readings=30) as stager:
        await asyncio.gather(*(stager.submit(device, b"p", 3) for device in range(10)))
    assert [len(group) for group in write.groups] == [10]
    assert sorted(device for device, _, _ in write.groups[0]) == list(range(10))
    assert stager.flushes == 1
    assert stager.batches == 10
    assert stager.pending_readings == 0


async def test_groups_hold_at_most_max_readings():
    write = FakeWrite()
    async with running(write, max_readings=8) as stager:
        await asyncio.gather(*(stager.submit(device, b"p", 4) for device in range(5)))
    assert sum(len(group) for group in write.groups) == 5
    assert all(sum(n for _, _, n in group) <= 8 for group in write.groups)
    assert stager.flushes == len(write.groups) >= 3


async def test_a_batch_larger_than_a_group_is_written_alone():
    write = FakeWrite()
    async with running(write, max_readings=8) as stager:
        await stager.submit(1, b"p", 50)
    assert write.groups == [[(1, b"p", 50)]]


async def test_every_waiter_gets_the_write_error():
    write = FakeWrite()
    write.error = storage_errors.StorageUnavailable("down")
    async with running(write, wait_s=60, max_readings=3) as stager:
        results = await asyncio.gather(
            *(stager.submit(device, b"p", 1) for device in range(3)), return_exceptions=True
        )
    assert [type(result) for result in results] == [storage_errors.StorageUnavailable] * 3
    assert stager.flushes == 0
    assert stager.pending_readings == 0


async def test_past_max_pending_submissions_are_refused_at_once():
    write = FakeWrite()
    write.gate.clear()
    async with running(write, max_pending=5) as stager:
        first = asyncio.create_task(stager.submit(1, b"p", 5))
        await write.started.wait()
        assert stager.full
        with pytest.raises(errors.Overloaded):
            await stager.submit(2, b"p", 1)
        write.gate.set()
        await first
        assert not stager.full
        await stager.submit(3, b"p", 1)
    assert [group[0][0] for group in write.groups] == [1, 3]


async def test_writes_overlap_up_to_the_concurrency():
    write = FakeWrite()
    write.gate.clear()
    async with running(write, concurrency=2, max_readings=1) as stager:
        waiters = [asyncio.create_task(stager.submit(device, b"p", 1)) for device in range(4)]
        while write.in_flight < 2:
            await write.started.wait()
            write.started.clear()
        write.gate.set()
        await asyncio.gather(*waiters)
    assert write.most_in_flight == 2
    assert stager.flushes == 4


async def test_drain_writes_what_is_queued_then_refuses_more():
    write = FakeWrite()
    stager = staging.Stager(write, wait_s=60, max_readings=100, concurrency=1, max_pending=100)
    waiter = asyncio.create_task(stager.submit(1, b"p", 1))
    await asyncio.sleep(0)  # let the submission queue up (no flusher runs)
    await stager.drain()
    await waiter
    assert write.groups == [[(1, b"p", 1)]]
    with pytest.raises(errors.Stopping):
        await stager.submit(2, b"p", 1)
