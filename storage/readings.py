"""Writing readings: the deduplicating insert, latest values, components and device times.

Every function runs inside a transaction the caller opened (the worker's claim), so a claim's
readings, its latest values and the deletion of its staged batches commit together or not at all.
Times are int64 microseconds since the Unix epoch; NaN values are stored as NULL.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from storage import errors, packing
from storage.pool import Connection
from storage.queries import SQL

COLUMNS = ("time", "device_id", "sensor_id", "raw_value", "value")


class SeriesLatest(NamedTuple):
    """Per (device, sensor), sorted by both: its newest reading in a claim and the one before.

    Where a series has a single reading in the claim, `has_prev` is False and the prev_* values
    are meaningless.
    """

    device_ids: npt.NDArray[np.int64]
    sensor_ids: npt.NDArray[np.int32]
    times: npt.NDArray[np.int64]
    raw_values: npt.NDArray[np.float64]
    values: npt.NDArray[np.float64]
    has_prev: npt.NDArray[np.bool_]
    prev_times: npt.NDArray[np.int64]
    prev_raw_values: npt.NDArray[np.float64]
    prev_values: npt.NDArray[np.float64]


async def insert_readings(
    conn: Connection,
    times: npt.NDArray[np.int64],
    device_ids: npt.NDArray[np.int64],
    sensor_ids: npt.NDArray[np.int32],
    raw_values: npt.NDArray[np.float64],
    values: npt.NDArray[np.float64],
) -> tuple[int, int]:
    """Store readings that are not stored yet; returns (stored, duplicates).

    A reading whose (device, sensor, time) is already stored, or appears twice, is stored once
    and never overwritten. The common case is one binary COPY; only when it meets a duplicate
    (SQLSTATE 23505) is it rolled back to a savepoint and redone through a temporary table with
    `ON CONFLICT DO NOTHING`. Raises StorageUnavailable or StorageError (DataError for a time
    out of PostgreSQL's range).
    """
    n = len(times)
    if n == 0:
        return 0, 0
    body = packing.readings_copy_body(times, device_ids, sensor_ids, raw_values, values)
    try:
        with errors.translated():
            async with conn.transaction():
                await _copy(conn, "readings", body)
        return n, 0
    except errors.UniqueViolation:
        pass
    with errors.translated():
        await conn.execute(SQL["readings_create_incoming"])
        await _copy(conn, "readings_incoming", body)
        status = await conn.execute(SQL["readings_insert_incoming"])
    stored = int(status.rsplit(" ", 1)[-1])
    return stored, n - stored


async def _copy(conn: Connection, table: str, body: bytes) -> None:
    await conn.copy_to_table(
        table,
        # A buffer, not bytes: asyncpg takes bytes for a file name. Its stubs omit buffers.
        source=memoryview(body),  # type: ignore[arg-type]
        columns=COLUMNS,
        format="binary",
    )


async def update_latest(conn: Connection, latest: SeriesLatest) -> None:
    """Move each series' latest reading forward in time; an older reading never replaces a newer.

    The replaced latest becomes prev_*, unless the claim holds a reading newer than it (then
    that one does). Rows are written in (device, sensor) order, so concurrent workers lock them
    in the same order. Raises StorageUnavailable or StorageError.
    """
    if len(latest.device_ids) == 0:
        return
    with errors.translated():
        await conn.execute(SQL["readings_update_latest"], *(column.tolist() for column in latest))


async def add_components(
    conn: Connection, device_ids: npt.NDArray[np.int64], sensor_ids: npt.NDArray[np.int32]
) -> None:
    """Make each (device, sensor) pair a component of its device if it is not one yet.

    The key is the sensor's default_key (else its id). Pairs whose device or sensor no longer
    exists are skipped. Raises StorageUnavailable or StorageError.
    """
    if len(device_ids) == 0:
        return
    with errors.translated():
        await conn.execute(SQL["readings_add_components"], device_ids.tolist(), sensor_ids.tolist())


async def touch_devices(
    conn: Connection, device_ids: npt.NDArray[np.int64], newest_times: npt.NDArray[np.int64]
) -> None:
    """Set each device's last_reading_at to its newest reading (if newer) and last_posted_at to
    now. Devices that no longer exist are skipped. Raises StorageUnavailable or StorageError."""
    if len(device_ids) == 0:
        return
    with errors.translated():
        await conn.execute(
            SQL["readings_touch_devices"], device_ids.tolist(), newest_times.tolist()
        )
