"""Writing readings: the deduplicating insert, latest values, components and device times, and
rewriting the calibrated values of a series (recalibration).

The writers run inside a transaction the caller opened (the worker's claim, a recalibration's
day), so a claim's readings, its rollups, its latest values and the deletion of its staged
batches commit together or not at all.
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


class Inserted(NamedTuple):
    """What an insert stored: the readings (a subset of those given when some were duplicates)
    and how many of those given were skipped as duplicates."""

    times: npt.NDArray[np.int64]
    device_ids: npt.NDArray[np.int64]
    sensor_ids: npt.NDArray[np.int32]
    raw_values: npt.NDArray[np.float64]
    values: npt.NDArray[np.float64]
    duplicates: int


async def insert_readings(
    conn: Connection,
    times: npt.NDArray[np.int64],
    device_ids: npt.NDArray[np.int64],
    sensor_ids: npt.NDArray[np.int32],
    raw_values: npt.NDArray[np.float64],
    values: npt.NDArray[np.float64],
) -> Inserted:
    """Store readings that are not stored yet; returns those it stored and the duplicate count.

    A reading whose (device, sensor, time) is already stored, or appears twice, is stored once
    and never overwritten. The common case is one binary COPY, which stores everything given
    (returned as is); only when it meets a duplicate (SQLSTATE 23505) is it rolled back to a
    savepoint and redone through a temporary table with `ON CONFLICT DO NOTHING`, which returns
    the rows it inserted. Runs inside the caller's transaction. Raises StorageUnavailable or
    StorageError (DataError for a time out of PostgreSQL's range).
    """
    n = len(times)
    if n == 0:
        return Inserted(times, device_ids, sensor_ids, raw_values, values, 0)
    if not conn.is_in_transaction():
        # The duplicate path's temporary table is emptied at each commit.
        raise errors.StorageError("insert_readings must run inside a transaction")
    body = packing.readings_copy_body(times, device_ids, sensor_ids, raw_values, values)
    try:
        with errors.translated():
            async with conn.transaction():
                await _copy(conn, "readings", body)
        return Inserted(times, device_ids, sensor_ids, raw_values, values, 0)
    except errors.UniqueViolation:
        pass
    with errors.translated():
        await conn.execute(SQL["readings_create_incoming"])
        await _copy(conn, "readings_incoming", body)
        (stored,) = await conn.fetch(SQL["readings_insert_incoming"])  # aggregates: one row
    columns = [column or [] for column in stored]  # array_agg of no rows is NULL
    return Inserted(
        np.array(columns[0], dtype=np.int64),
        np.array(columns[1], dtype=np.int64),
        np.array(columns[2], dtype=np.int32),
        np.array(columns[3], dtype=np.float64),
        np.array(columns[4], dtype=np.float64),
        n - len(columns[0]),
    )


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
    in the same order. The rows travel as one binary COPY into a temporary table (nine arrays
    given as statement parameters cost the worker more than the upsert itself). Runs inside the
    caller's transaction. Raises StorageUnavailable or StorageError.
    """
    if len(latest.device_ids) == 0:
        return
    if not conn.is_in_transaction():
        # The temporary table is emptied at each commit.
        raise errors.StorageError("update_latest must run inside a transaction")
    offset = packing.PG_EPOCH_OFFSET_US
    body = packing.fixed_width_copy_body(
        [
            (">i8", latest.device_ids),
            (">i4", latest.sensor_ids),
            (">i8", latest.times - offset),
            (">f8", latest.raw_values),
            (">f8", latest.values),
            (">u1", latest.has_prev),
            (">i8", latest.prev_times - offset),
            (">f8", latest.prev_raw_values),
            (">f8", latest.prev_values),
        ]
    )
    with errors.translated():
        await conn.execute(SQL["readings_create_latest_incoming"])
        await conn.copy_to_table(
            "latest_incoming",
            source=body,  # type: ignore[arg-type]  # a buffer; asyncpg's stubs omit buffers
            columns=_LATEST_COLUMNS,
            format="binary",
        )
        await conn.execute(SQL["readings_update_latest"])


_LATEST_COLUMNS = [
    "device_id",
    "sensor_id",
    "time",
    "raw_value",
    "value",
    "has_prev",
    "prev_time",
    "prev_raw_value",
    "prev_value",
]


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


async def next_reading_time(
    conn: Connection, device_id: int, sensor_id: int, start_us: int | None, end_us: int | None
) -> int | None:
    """The time of a series' first reading in [start_us, end_us) (None: unbounded), or None.

    Raises StorageUnavailable or StorageError.
    """
    with errors.translated():
        found = await conn.fetchval(
            SQL["readings_next_time"], device_id, sensor_id, start_us, end_us
        )
    return None if found is None else int(found)


async def raw_values(
    conn: Connection, device_id: int, sensor_id: int, start_us: int, end_us: int, limit: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The times and raw values (NaN for NULL) of a series' first `limit` readings in
    [start_us, end_us), by time. Raises StorageUnavailable or StorageError."""
    with errors.translated():
        (page,) = await conn.fetch(
            SQL["readings_raw_values"], device_id, sensor_id, start_us, end_us, limit
        )
    times, raw = page
    return np.array(times or [], dtype=np.int64), np.array(raw or [], dtype=np.float64)


async def set_values(
    conn: Connection,
    device_id: int,
    sensor_id: int,
    times: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
) -> int:
    """Set the calibrated value (NaN: NULL) of a series' readings at `times` (ascending); returns
    how many changed. Raises StorageUnavailable or StorageError."""
    if len(times) == 0:
        return 0
    with errors.translated():
        status = await conn.execute(
            SQL["readings_set_values"],
            device_id,
            sensor_id,
            times.tolist(),
            values.tolist(),
            int(times[0]),
            int(times[-1]),
        )
    return int(status.rsplit(" ", 1)[-1])


async def refresh_latest_values(
    conn: Connection, device_id: int, sensor_id: int, start_us: int, end_us: int
) -> None:
    """Re-read a series' latest and previous calibrated values from its stored readings where
    their times fall in [start_us, end_us) (after the values there changed). Raises
    StorageUnavailable or StorageError."""
    with errors.translated():
        await conn.execute(
            SQL["readings_refresh_latest_values"], device_id, sensor_id, start_us, end_us
        )
