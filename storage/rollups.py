"""Hourly and daily rollups: folding a claim's new readings in, and rebuilding them from readings.

`readings_hourly` and `readings_daily` hold one row per series (device, sensor) and UTC bucket
with the count, sum, sum of squares, min, max, first and last of its non-null calibrated values,
and the same of its raw values. The workers fold each claim's newly stored readings in, in the
claim's transaction (`add`); `rebuild` recomputes a range from the stored readings (after a
recalibration, or by hand). Both lock rollup rows in (device, sensor, bucket) order, hourly rows
before daily ones, so concurrent writers never deadlock on them. Times are int64 microseconds
since the Unix epoch.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from storage import errors, packing
from storage.pool import Connection
from storage.queries import SQL

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
TABLES = ("hourly", "daily")  # in the order their rows are locked


def _statements(table: str) -> dict[str, str]:
    """The rollup statements of storage/sql/rollups.sql for one table: each is written once,
    for `readings_ROLLUP`, buckets `ROLLUP_WIDTH` wide, staged rows where `daily` is
    `ROLLUP_IS_DAILY`."""
    daily = table == "daily"
    return {
        kind: SQL[f"rollups_{kind}"]
        .replace("readings_ROLLUP", f"readings_{table}")
        .replace("ROLLUP_WIDTH", "interval '24 hours'" if daily else "interval '1 hour'")
        .replace("ROLLUP_IS_DAILY", "true" if daily else "false")
        for kind in ("add", "lock", "delete", "summarise")
    }


_SQL = {table: _statements(table) for table in TABLES}


class Summary(NamedTuple):
    """Per bucket, the summary of one column's non-null values; where `counts` is 0 the other
    fields are meaningless (stored as NULL)."""

    counts: npt.NDArray[np.int64]
    sums: npt.NDArray[np.float64]
    sums_sq: npt.NDArray[np.float64]
    mins: npt.NDArray[np.float64]
    maxs: npt.NDArray[np.float64]
    first_times: npt.NDArray[np.int64]
    first_values: npt.NDArray[np.float64]
    last_times: npt.NDArray[np.int64]
    last_values: npt.NDArray[np.float64]


class Rollups(NamedTuple):
    """Summaries per (device, sensor, bucket start), sorted by the three, of calibrated and raw
    values."""

    device_ids: npt.NDArray[np.int64]
    sensor_ids: npt.NDArray[np.int32]
    buckets: npt.NDArray[np.int64]
    values: Summary
    raw: Summary


async def add(conn: Connection, hourly: Rollups, daily: Rollups) -> None:
    """Fold summaries of newly stored readings into the rollup tables, in the caller's
    transaction: counts and sums add up, min and max widen, first and last move only to earlier
    and later times. Each reading must be summarised once, ever: pass only readings this
    transaction stored. Raises StorageUnavailable or StorageError.

    The summaries travel as one binary COPY into a temporary table, from which one upsert per
    table takes them (an `unnest` of 21 arrays cost twice as much).
    """
    if len(hourly.device_ids) == 0 and len(daily.device_ids) == 0:
        return
    with errors.translated():
        await conn.execute(SQL["rollups_create_incoming"])
        await conn.copy_to_table(
            "rollups_incoming",
            # A buffer, not bytes: asyncpg takes bytes for a file name. Its stubs omit buffers.
            source=_copy_body(hourly, daily),  # type: ignore[arg-type]
            columns=_COLUMNS,
            format="binary",
        )
        for table in TABLES:
            await conn.execute(_SQL[table]["add"])


# The staged row: `daily`, then a rollup row. Every field is written, NULL or not; the upserts
# turn the summaries of buckets without values (count 0) into NULLs.
_SUMMARY_FIELDS = (
    ("count", ">i8"),
    ("sum", ">f8"),
    ("sum_sq", ">f8"),
    ("min", ">f8"),
    ("max", ">f8"),
    ("first_time", ">i8"),
    ("first_value", ">f8"),
    ("last_time", ">i8"),
    ("last_value", ">f8"),
)
_COLUMNS = [
    "daily",
    "bucket",
    "device_id",
    "sensor_id",
    *(f"{prefix}{name}" for prefix in ("", "raw_") for name, _ in _SUMMARY_FIELDS),
]


def _copy_body(hourly: Rollups, daily: Rollups) -> memoryview:
    """A binary COPY stream of rollups_incoming rows: hourly rows, then daily ones."""
    both = (hourly, daily)

    def column(
        values: list[npt.NDArray[np.generic]], *, is_time: bool = False
    ) -> npt.NDArray[np.generic]:
        joined = np.concatenate(values)
        return joined - packing.PG_EPOCH_OFFSET_US if is_time else joined

    columns: list[tuple[str, npt.ArrayLike]] = [
        (">u1", np.repeat([False, True], [len(hourly.device_ids), len(daily.device_ids)])),
        (">i8", column([r.buckets for r in both], is_time=True)),
        (">i8", column([r.device_ids for r in both])),
        (">i4", column([r.sensor_ids for r in both])),
    ]
    for side in ("values", "raw"):
        for index, (name, kind) in enumerate(_SUMMARY_FIELDS):
            parts = [getattr(r, side)[index] for r in both]
            columns.append((kind, column(parts, is_time=name.endswith("_time"))))
    return packing.fixed_width_copy_body(columns)


def whole_days(start_us: int, end_us: int) -> tuple[int, int]:
    """The UTC days that [start_us, end_us) touches, as [first midnight, last midnight)."""
    return start_us - start_us % DAY_US, -(-end_us // DAY_US) * DAY_US


async def lock(
    conn: Connection, device_id: int, sensor_id: int, start_us: int, end_us: int
) -> None:
    """Lock a series' hourly and daily rollup rows of every UTC day [start_us, end_us) touches,
    until the caller's transaction ends.

    Rows that do not exist are created empty (and must be rebuilt before commit), so that a claim
    storing readings in those days waits, then folds them into the rebuilt rows. Waits for claims
    holding them. Raises StorageUnavailable or StorageError.
    """
    first, last = whole_days(start_us, end_us)
    if first >= last:
        return
    with errors.translated():
        for table in TABLES:
            await conn.execute(_SQL[table]["lock"], device_id, sensor_id, first, last)


async def rebuild(
    conn: Connection, device_id: int, sensor_id: int, start_us: int, end_us: int
) -> None:
    """Recompute a series' hourly and daily rollups of every UTC day [start_us, end_us) touches
    from its stored readings, atomically (in the caller's transaction if there is one).

    The rows are locked first (see `lock`), so the recomputation sees every reading committed
    before it and claims storing readings meanwhile add theirs after it commits: the rollups stay
    exact. Buckets without readings lose their row. Raises StorageUnavailable or StorageError.
    """
    first, last = whole_days(start_us, end_us)
    if first >= last:
        return
    with errors.translated():
        async with conn.transaction():  # a savepoint inside the caller's transaction
            await lock(conn, device_id, sensor_id, first, last)
            for table in TABLES:
                args = (device_id, sensor_id, first, last)
                await conn.execute(_SQL[table]["delete"], *args)
                await conn.execute(_SQL[table]["summarise"], *args)
