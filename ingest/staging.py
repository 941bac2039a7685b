"""Group commit: concurrent requests share one COPY and one commit of the staging table.

Handlers `submit` a batch and wait. The flusher gathers submissions for up to `wait_s` (or until
`max_readings` are waiting), hands the group to `write` (one binary COPY, committed on return)
and then answers every waiter: with nothing once committed, with the error otherwise. Up to
`concurrency` groups are written at once, so gathering the next group overlaps the last commit.
Readings waiting here are bounded by `max_pending`: past it, `submit` raises Overloaded at once.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from ingest import errors

logger = logging.getLogger(__name__)

Submission = tuple[int, bytes, int]  # device_id, staged payload, number of readings
Write = Callable[[Sequence[Submission]], Awaitable[None]]


class Stager:
    """Gathers submitted batches into groups and writes each group with one `write` call."""

    def __init__(
        self, write: Write, *, wait_s: float, max_readings: int, concurrency: int, max_pending: int
    ) -> None:
        self._write = write
        self._wait_s = wait_s
        self._max_readings = max_readings
        self._max_pending = max_pending
        self._slots = asyncio.Semaphore(concurrency)
        self._queue: collections.deque[tuple[Submission, asyncio.Future[None]]] = (
            collections.deque()
        )
        self._queued_readings = 0
        self._pending_readings = 0  # queued or being written
        self._arrived = asyncio.Event()
        self._full = asyncio.Event()
        self._writes: set[asyncio.Task[None]] = set()
        self._closed = False
        self._failing = False
        self.flushes = 0  # groups written and committed
        self.batches = 0  # batches in those groups

    @property
    def pending_readings(self) -> int:
        """Readings submitted and not yet answered."""
        return self._pending_readings

    @property
    def full(self) -> bool:
        """Whether no more readings should be taken now."""
        return self._pending_readings >= self._max_pending

    async def submit(self, device_id: int, payload: bytes, n_readings: int) -> None:
        """Stage one batch; returns once it is committed.

        Raises Overloaded (too much waiting), Stopping (shutting down), or the error of the
        write, such as StorageUnavailable.
        """
        if self._closed:
            raise errors.Stopping()
        pending = self._pending_readings
        if pending and pending + n_readings > self._max_pending:
            raise errors.Overloaded()
        done = asyncio.get_running_loop().create_future()
        self._queue.append(((device_id, payload, n_readings), done))
        self._queued_readings += n_readings
        self._pending_readings += n_readings
        self._arrived.set()
        if self._queued_readings >= self._max_readings:
            self._full.set()
        await done

    async def run(self) -> None:
        """Gather and write groups until cancelled (the body of the flusher task)."""
        while True:
            await self._arrived.wait()
            if self._queued_readings < self._max_readings:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._wait_s):
                        await self._full.wait()
            await self._slots.acquire()
            if self._queue:
                self._start_write()
            else:
                self._slots.release()

    async def drain(self) -> None:
        """Refuse new batches, write every queued one and wait for all writes to finish.

        Call after cancelling the flusher task.
        """
        self._closed = True
        while self._queue:
            await self._slots.acquire()
            self._start_write()
        if self._writes:
            await asyncio.wait(self._writes)

    def _start_write(self) -> None:
        """Take the next group off the queue and write it in its own task (a slot is held)."""
        group: list[tuple[Submission, asyncio.Future[None]]] = []
        readings = 0
        while self._queue and (not group or readings + self._queue[0][0][2] <= self._max_readings):
            item = self._queue.popleft()
            group.append(item)
            readings += item[0][2]
        self._queued_readings -= readings
        if not self._queue:
            self._arrived.clear()
        if self._queued_readings < self._max_readings:
            self._full.clear()
        task = asyncio.create_task(self._write_group(group, readings), name="stage-write")
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write_group(
        self, group: list[tuple[Submission, asyncio.Future[None]]], readings: int
    ) -> None:
        try:
            await self._write([submission for submission, _ in group])
        except Exception as exc:  # the waiters' error: each handler answers it
            if not self._failing:  # log when staging starts failing, not for every group
                logger.warning("staging failed: %s", exc, extra={"action": "staging_failed"})
            self._failing = True
            for _, done in group:
                if not done.done():
                    done.set_exception(exc)
        except BaseException:
            for _, done in group:
                if not done.done():
                    done.set_exception(errors.Stopping())
            raise
        else:
            if self._failing:
                logger.info("staging works again", extra={"action": "staging_recovered"})
            self._failing = False
            self.flushes += 1
            self.batches += len(group)
            for _, done in group:
                if not done.done():
                    done.set_result(None)
        finally:
            self._pending_readings -= readings
            self._slots.release()
