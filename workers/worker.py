"""The worker: wait for staged batches, claim and process them, until asked to stop.

It follows procrastinate's Worker. One connection LISTENs on the staging channel (the gateway's
insert notifies at commit); the claim loop claims again at once while claims come back full,
and otherwise sleeps until a notification, the stop event or the poll interval, whichever is
first (the poll finds batches whose notification was lost or whose worker crashed). After a
notification it gathers for WORKERS_CLAIM_WAIT_MS before claiming, so that claims at moderate
rates hold many batches rather than the one or two of each group commit. A stop lets
the transaction in flight commit within the shutdown timeout, then cancels it: it rolls back
and its batches are claimed again later. When the database goes away the worker backs off,
reconnects (its LISTEN connection too) and carries on.
"""

from __future__ import annotations

import asyncio
import logging
import os

from storage import batches, errors
from storage import pool as storage_pool
from workers.catalogue import Catalogue
from workers.config import WorkerSettings
from workers.processing import ProcessResult, process_available
from workers.purge import Purger

logger = logging.getLogger(__name__)

FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 5.0
_ASSUMED_READINGS_PER_BATCH = 100.0


class Worker:
    """One claim loop with its pool (opened by `run` unless given) and LISTEN connection."""

    def __init__(
        self,
        settings: WorkerSettings,
        *,
        pool: storage_pool.Pool | None = None,
        catalogue: Catalogue | None = None,
        purger: Purger | None = None,
    ) -> None:
        self.settings = settings
        self.catalogue = catalogue or Catalogue(settings.catalogue_refresh_s)
        # Deleted devices' data is purged in the background, a slice at a time (workers/purge.py).
        self.purger = purger or Purger()
        self._purging: asyncio.Task[None] | None = None
        self.totals = ProcessResult()
        self.claims = 0  # claims made so far, empty ones included
        self.listens = 0  # LISTEN connections opened so far (1 + reconnections)
        self.ready = asyncio.Event()  # set while listening
        self._pool = pool
        self._owns_pool = pool is None
        self._listener: storage_pool.Connection | None = None
        self._wakeup = asyncio.Event()
        self._backoff_s = FIRST_BACKOFF_S
        self._readings_per_batch = _ASSUMED_READINGS_PER_BATCH

    async def run(self, stop: asyncio.Event) -> None:
        """Process batches until `stop` is set, surviving database outages.

        Raises what a bug raises (after closing its connections): better a restart than a
        worker running half-alive.
        """
        self._purging = asyncio.create_task(
            self.purger.run(lambda: self._pool, stop), name="worker-purge"
        )
        try:
            while not stop.is_set():
                try:
                    await self._connect()
                    await self._work(stop)
                except errors.StorageUnavailable as exc:
                    self.ready.clear()
                    logger.warning(
                        "database unavailable, retrying in %.1fs: %s",
                        self._backoff_s,
                        exc,
                        extra={"action": "database_unavailable"},
                    )
                    await self._close_listener()
                    await _wait_any([stop], seconds=self._backoff_s)
                    self._backoff_s = min(self._backoff_s * 2, MAX_BACKOFF_S)
            logger.info("stopping: closing connections", extra={"action": "worker_stopping"})
        finally:
            self._purging.cancel()
            await asyncio.wait([self._purging])
            if not self._purging.cancelled() and self._purging.exception() is not None:
                logger.error(
                    "purge failed",
                    exc_info=self._purging.exception(),
                    extra={"action": "purge_failed"},
                )
            self.ready.clear()
            await self._close_listener()
            if self._owns_pool and self._pool is not None:
                await storage_pool.close(self._pool, timeout=self.settings.shutdown_timeout_s)
                self._pool = None
        logger.info(
            "worker stopped; stored %d readings of %d batches",
            self.totals.stored,
            self.totals.batches,
            extra={"action": "worker_stopped", "pid": os.getpid()},
        )

    async def _connect(self) -> None:
        if self._pool is None:
            self._pool = await storage_pool.open(self.settings.db)
        if self._listener is None or self._listener.is_closed():
            await self._close_listener()
            listener = await storage_pool.connect(self.settings.db)
            try:
                with errors.translated():
                    await listener.add_listener(batches.CHANNEL, self._notified)
            except BaseException:
                listener.terminate()
                raise
            listener.add_termination_listener(self._lost)
            self._listener = listener
            self.listens += 1
            logger.info(
                "worker ready (pid %d), listening on %s"
                if self.listens == 1
                else "worker reconnected (pid %d) to %s",
                os.getpid(),
                self.settings.db.display,
                extra={"action": "worker_ready", "pid": os.getpid()},
            )
        self._wakeup.set()  # batches may have arrived while nobody listened
        self.ready.set()

    async def _work(self, stop: asyncio.Event) -> None:
        assert self._pool is not None
        while not stop.is_set():
            if self._listener is None or self._listener.is_closed():
                raise errors.StorageUnavailable("the LISTEN connection was closed")
            if self._purging is not None and self._purging.done():
                self._purging.result()  # a purge that died takes the worker down with its error
            self._wakeup.clear()
            result = await self._claim(self._pool, stop)
            if result is None:  # cancelled by the stop
                return
            self._record(result)
            if not result.full:
                await _wait_any([self._wakeup, stop], seconds=self.settings.poll_interval_s)
                if self._wakeup.is_set() and self.settings.claim_wait_ms > 0:
                    # Batches are arriving: let more of them gather for this claim.
                    await _wait_any([stop], seconds=self.settings.claim_wait_ms / 1000)

    async def _claim(self, pool: storage_pool.Pool, stop: asyncio.Event) -> ProcessResult | None:
        """One claim, run as its own task so a stop lets it finish (within the shutdown
        timeout) instead of interrupting it; None if it had to be cancelled."""
        claim = asyncio.create_task(
            process_available(pool, self.catalogue, self.settings, limit=self._claim_limit()),
            name="worker-claim",
        )
        try:
            await _wait_any([stop], seconds=None, task=claim)
            if not claim.done():
                logger.info(
                    "stop requested: letting the claim in flight finish",
                    extra={"action": "worker_draining"},
                )
                await asyncio.wait([claim], timeout=self.settings.shutdown_timeout_s)
        finally:
            if not claim.done():
                claim.cancel()
                await asyncio.wait([claim])
                logger.warning(
                    "claim cancelled at shutdown: its batches will be claimed again",
                    extra={"action": "claim_cancelled"},
                )
        if claim.cancelled():
            return None
        return claim.result()

    def _claim_limit(self) -> int:
        """As many batches as fit max_readings_per_claim, given the batches seen so far."""
        fitting = int(self.settings.max_readings_per_claim / max(self._readings_per_batch, 1.0))
        return max(1, min(self.settings.max_batches_per_claim, fitting))

    def _record(self, result: ProcessResult) -> None:
        self.totals = self.totals.plus(result)
        self.claims += 1
        self._backoff_s = FIRST_BACKOFF_S
        if result.batches:
            seen = result.readings / result.batches
            self._readings_per_batch = 0.8 * self._readings_per_batch + 0.2 * seen

    def _notified(self, connection: object, pid: int, channel: str, payload: object, /) -> None:
        self._wakeup.set()

    def _lost(self, connection: object, /) -> None:
        self._wakeup.set()  # the loop notices the closed connection and reconnects

    async def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is None or listener.is_closed():
            return
        try:
            with errors.translated():
                await asyncio.wait_for(listener.close(), timeout=FIRST_BACKOFF_S)
        except errors.StorageError:
            listener.terminate()


async def _wait_any(
    events: list[asyncio.Event], *, seconds: float | None, task: asyncio.Task[object] | None = None
) -> None:
    """Return when any of `events` is set, `task` is done, or after `seconds`."""
    waiters: list[asyncio.Future[object]] = [
        asyncio.create_task(event.wait(), name="worker-wait") for event in events
    ]
    try:
        await asyncio.wait(
            [*waiters, *([task] if task else [])],
            timeout=seconds,
            return_when=asyncio.FIRST_COMPLETED,
        )
    finally:
        for waiter in waiters:
            waiter.cancel()
