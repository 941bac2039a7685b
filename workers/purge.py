"""Purging deleted devices: their staged batches, readings, rollups, latest values and dead
letters, a bounded slice at a time, in the background of every worker.

Deleting a device (query/registry.py) only marks it: it leaves every answer at once. Each
worker then runs a round every `interval_s`: it takes one deleted device not yet purged (an
advisory lock keeps workers on different devices), deletes at most `slice_rows` rows in one
short transaction, and goes on until nothing is left or the round's `max_slices` are spent, so
no transaction holds locks for long and no round holds the worker for long. A device is marked
purged (`devices.purged_at`) only once it was deleted more than `settle_s` ago (by then no
gateway still holds it in its cache, so nothing new can be staged for it) and a slice found
nothing left: staging is purged first, waiting for any claim in flight on its batches, so
readings that claim stored are seen and purged too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from storage import errors, registry
from storage import pool as storage_pool
from workers.processing import transaction

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PurgeSettings:
    """How often and how much a worker purges."""

    interval_s: float = 5.0
    slice_rows: int = 5000
    max_slices: int = 100  # per round; the next round goes on
    # Longer than a gateway can go on accepting a deleted device (at once when it listens for
    # credential changes, else within INGEST_CACHE_UNWATCHED_TTL_S, 10 s by default) plus a
    # commit: after this, nothing more can be staged for a deleted device.
    settle_s: float = 60.0


class Slice(NamedTuple):
    """What one slice did to one device."""

    device_id: int
    deleted: int  # rows deleted
    purged: bool  # nothing left: marked purged
    settled: bool


class Round(NamedTuple):
    """What one round did."""

    deleted: int = 0
    purged: tuple[int, ...] = ()


class Purger:
    """Purges deleted devices in rounds, on the pool its owner gives it."""

    def __init__(self, settings: PurgeSettings | None = None) -> None:
        self.settings = settings or PurgeSettings()

    async def run(
        self, pool_of: Callable[[], storage_pool.Pool | None], stop: asyncio.Event
    ) -> None:
        """A round every `interval_s` until `stop` is set; an unavailable database (or no pool
        yet) skips a round. Raises what a bug raises."""
        while not stop.is_set():
            pool = pool_of()
            if pool is not None:
                try:
                    await self.purge_round(pool)
                except errors.StorageUnavailable as exc:
                    logger.warning(
                        "purge round skipped: %s", exc, extra={"action": "purge_unavailable"}
                    )
            try:
                await asyncio.wait_for(stop.wait(), self.settings.interval_s)
            except TimeoutError:
                pass

    async def purge_round(self, pool: storage_pool.Pool) -> Round:
        """Slices until no deleted device has anything left to purge now, or `max_slices`.

        Raises StorageUnavailable or StorageError (each slice is committed on its own).
        """
        waiting: list[int] = []  # deleted too recently to be marked, nothing left for now
        rows: dict[int, int] = {}  # per device not purged yet
        purged: list[int] = []
        total = 0
        for _ in range(self.settings.max_slices):
            done = await self.purge_slice(pool, skip=waiting)
            if done is None:
                break
            total += done.deleted
            rows[done.device_id] = rows.get(done.device_id, 0) + done.deleted
            if done.purged:
                purged.append(done.device_id)
                _progress(done.device_id, rows.pop(done.device_id))
                logger.info(
                    "deleted device %d purged: nothing of it is left",
                    done.device_id,
                    extra={"action": "device_purged", "device_id": done.device_id},
                )
            elif done.deleted == 0:
                waiting.append(done.device_id)
        for device_id, count in rows.items():
            _progress(device_id, count)
        return Round(total, tuple(purged))

    async def purge_slice(self, pool: storage_pool.Pool, *, skip: list[int]) -> Slice | None:
        """One transaction: at most `slice_rows` rows of one deleted device (not in `skip`)
        deleted, or the device marked purged; None if no device is left to purge."""
        async with transaction(pool) as conn:
            target = await registry.next_to_purge(conn, skip=skip, settle_s=self.settings.settle_s)
            if target is None:
                return None
            deleted = await registry.purge_slice(conn, target.id, self.settings.slice_rows)
            count = sum(deleted.values())
            done = count == 0 and target.settled and await registry.mark_purged(conn, target.id)
        return Slice(target.id, count, done, target.settled)


def _progress(device_id: int, count: int) -> None:
    if count:
        logger.info(
            "purged %d rows of deleted device %d",
            count,
            device_id,
            extra={"action": "purge_progress", "device_id": device_id, "rows": count},
        )
