"""One claim: take staged batches, calibrate and store their readings, delete them, in ONE
transaction.

The claim, the readings, their hourly and daily rollups, the latest values, the components, the
device times and the deletion of the batches commit together, so a crash anywhere rolls
everything back and the batches are claimed again: each reading takes effect exactly once. A
claim that fails for another reason than an unavailable database is rolled back and its batches
retried one at a time; a batch that fails on its own has the failure counted, and moves to
dead_letters after max_attempts.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from storage import batches, errors, packing, readings, rollups
from storage.models import StagedBatch
from storage.pool import Connection, Pool
from workers import aggregation, calibration
from workers.catalogue import Catalogue
from workers.config import WorkerSettings
from workers.errors import UnknownSensors, WorkerError

logger = logging.getLogger(__name__)


class ProcessResult(NamedTuple):
    """What one claim did."""

    claimed: int = 0  # batches locked by the claim
    batches: int = 0  # batches whose readings were stored (and that left staging)
    readings: int = 0  # readings in those batches
    stored: int = 0  # new readings written
    duplicates: int = 0  # readings already stored (or repeated), skipped
    dropped: int = 0  # readings of sensors not in the catalogue, skipped
    failed: int = 0  # batches that failed; their attempt was counted
    dead_lettered: int = 0  # of those, batches moved to dead_letters
    full: bool = False  # the claim took as many batches as it could: more may be waiting

    def plus(self, other: ProcessResult) -> ProcessResult:
        """The counts of both; full if either was."""
        counts = [a + b for a, b in zip(self[:-1], other[:-1], strict=True)]
        return ProcessResult._make([*counts, self.full or other.full])


class _Failure(NamedTuple):
    batch_id: int
    error: str


@contextlib.asynccontextmanager
async def transaction(pool: Pool) -> AsyncIterator[Connection]:
    """A pooled connection inside a transaction, committed on exit (rolled back on error).

    Driver errors, including those of acquiring and committing, become StorageErrors.
    """
    with errors.translated():
        async with pool.acquire() as conn, conn.transaction():
            yield conn


@contextlib.asynccontextmanager
async def _claim_transaction(pool: Pool, catalogue: Catalogue) -> AsyncIterator[Connection]:
    """A transaction after whose commit the components it wrote are remembered."""
    catalogue.forget_pending_components()
    async with transaction(pool) as conn:
        yield conn
    catalogue.commit_components()


async def process_available(
    pool: Pool, catalogue: Catalogue, settings: WorkerSettings, *, limit: int | None = None
) -> ProcessResult:
    """Claim up to `limit` staged batches (default max_batches_per_claim) and process them.

    Raises StorageUnavailable when the database is unreachable (everything is rolled back).
    """
    limit = limit or settings.max_batches_per_claim
    claimed: list[StagedBatch] = []
    try:
        async with _claim_transaction(pool, catalogue) as conn:
            claimed = await batches.claim(conn, limit)
            result = await _process(conn, claimed, catalogue, settings)
    except errors.StorageUnavailable:
        raise
    except Exception as exc:  # a poison batch, or a bug: isolate the batches that cause it
        if not claimed:
            raise
        logger.warning(
            "claim of %d batches failed, retrying them one at a time: %s",
            len(claimed),
            _describe(exc),
            extra={"action": "claim_failed"},
        )
        result = await _retry_one_by_one(pool, [b.id for b in claimed], catalogue, settings)
    result = result._replace(claimed=len(claimed), full=len(claimed) >= limit)
    if claimed:
        logger.debug(
            "stored %d readings (%d duplicates) of %d batches",
            result.stored,
            result.duplicates,
            result.batches,
            extra={"action": "batch_written", **result._asdict()},
        )
    return result


async def _retry_one_by_one(
    pool: Pool, batch_ids: Sequence[int], catalogue: Catalogue, settings: WorkerSettings
) -> ProcessResult:
    total = ProcessResult()
    for batch_id in batch_ids:
        try:
            async with _claim_transaction(pool, catalogue) as conn:
                batch = await batches.claim_one(conn, batch_id)  # None: gone, or taken by another
                total = total.plus(
                    await _process(conn, [batch] if batch else [], catalogue, settings)
                )
        except errors.StorageUnavailable:
            raise
        except Exception as exc:  # this batch fails on its own: count it against the batch
            failure = _Failure(batch_id, _describe(exc))
            logger.warning(
                "batch %d failed: %s",
                batch_id,
                failure.error,
                exc_info=not isinstance(exc, errors.StorageError | WorkerError | ValueError),
                extra={"action": "batch_failed", "batch_id": batch_id},
            )
            async with transaction(pool) as conn:
                if await batches.claim_one(conn, batch_id) is not None:
                    total = total.plus(await _record_failures(conn, [failure], settings))
    return total


async def _process(
    conn: Connection, claimed: list[StagedBatch], catalogue: Catalogue, settings: WorkerSettings
) -> ProcessResult:
    """Store the readings of `claimed` and delete them from staging, inside the transaction."""
    if not claimed:
        return ProcessResult()
    good: list[StagedBatch] = []
    parts: list[packing.Readings] = []
    failures: list[_Failure] = []
    for batch in claimed:
        try:
            parts.append(packing.unpack_readings(batch.payload))
        except ValueError as exc:
            failures.append(_Failure(batch.id, f"malformed payload: {exc}"))
            continue
        good.append(batch)
    result = await _record_failures(conn, failures, settings) if failures else ProcessResult()
    if not good:
        return result
    posted = packing.concat(parts)
    counts = [len(part.times) for part in parts]
    device_ids = np.repeat(np.array([b.device_id for b in good], dtype=np.int64), counts)
    stored = await _store(conn, posted, device_ids, catalogue)
    await batches.delete(conn, [b.id for b in good])
    return result._replace(batches=len(good), readings=len(device_ids), **stored._asdict())


class _Stored(NamedTuple):
    stored: int
    duplicates: int
    dropped: int


async def _store(
    conn: Connection,
    posted: packing.Readings,
    device_ids: npt.NDArray[np.int64],
    catalogue: Catalogue,
) -> _Stored:
    times, sensor_ids, values = posted
    calibrated, keep = await _calibrate(conn, sensor_ids, values, catalogue)
    dropped = 0
    if keep is not None:
        dropped = len(times) - int(keep.sum())
        times, device_ids, sensor_ids = times[keep], device_ids[keep], sensor_ids[keep]
    raw_values, calibrated_values = calibrated
    inserted = await readings.insert_readings(
        conn, times, device_ids, sensor_ids, raw_values, calibrated_values
    )
    # Only what this claim stored is folded into the rollups: a duplicate is never counted twice.
    hourly, daily = aggregation.rollups_per_bucket(
        inserted.times,
        inserted.device_ids,
        inserted.sensor_ids,
        inserted.raw_values,
        inserted.values,
    )
    await rollups.add(conn, hourly, daily)
    latest = aggregation.latest_per_series(
        times, device_ids, sensor_ids, raw_values, calibrated_values
    )
    await readings.update_latest(conn, latest)
    await readings.add_components(
        conn, *catalogue.unknown_components(latest.device_ids, latest.sensor_ids)
    )
    await readings.touch_devices(conn, *aggregation.newest_per_device(latest))
    return _Stored(len(inserted.times), inserted.duplicates, dropped)


async def _calibrate(
    conn: Connection,
    sensor_ids: npt.NDArray[np.int32],
    values: npt.NDArray[np.float64],
    catalogue: Catalogue,
) -> tuple[calibration.Calibrated, npt.NDArray[np.bool_] | None]:
    """Calibrated values and, if some sensors are unknown even after a reload, which readings
    to keep (the others are dropped: the gateway validated them, so their sensor was deleted)."""
    calibrator = await catalogue.current(conn)
    try:
        return calibrator.calibrate(sensor_ids, values), None
    except UnknownSensors:
        calibrator = await catalogue.reload(conn)
    try:
        return calibrator.calibrate(sensor_ids, values), None
    except UnknownSensors as exc:
        keep = ~np.isin(sensor_ids, exc.sensor_ids)
        logger.warning(
            "dropping %d readings of sensors not in the catalogue: %s",
            len(keep) - int(keep.sum()),
            exc.sensor_ids,
            extra={"action": "readings_dropped", "sensor_ids": exc.sensor_ids},
        )
    return calibrator.calibrate(sensor_ids[keep], values[keep]), keep


async def _record_failures(
    conn: Connection, failures: list[_Failure], settings: WorkerSettings
) -> ProcessResult:
    dead = 0
    for failure in failures:
        if await batches.record_failure(
            conn, failure.batch_id, failure.error, settings.max_attempts
        ):
            dead += 1
            logger.error(
                "batch %d moved to dead_letters after %d attempts: %s",
                failure.batch_id,
                settings.max_attempts,
                failure.error,
                extra={"action": "batch_dead_lettered", "batch_id": failure.batch_id},
            )
    return ProcessResult(failed=len(failures), dead_lettered=dead)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
