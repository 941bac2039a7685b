"""Reading history: a device's sensors by id or key, rolled-up buckets and stored readings.

Buckets come from one query per series that folds partial aggregate states from raw readings,
`readings_hourly` and `readings_daily` (storage/sql/history.sql); which time ranges each source
serves is the caller's choice (query/rollup.py). Where one rollup table serves the whole range
and each of its rows is a requested bucket (whole UTC days at `1d`, whole hours at `1h`), its
rows are read as they are, with nothing to fold. Streams read through a server-side cursor in a
read-only transaction, so any range is read in constant memory.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from datetime import datetime
from typing import NamedTuple

from storage import errors
from storage.pool import Connection
from storage.queries import SQL
from storage.rollups import DAY_US, HOUR_US


class HistoryDevice(NamedTuple):
    """What reading a device's history needs to know about it."""

    id: int
    owner_id: int | None
    kit_id: int | None
    is_private: bool
    is_test: bool


class SeriesSensor(NamedTuple):
    """A requested sensor as the device knows it; `sensor_id` is None for a key nothing has."""

    sensor_id: int | None
    key: str | None
    component_id: int | None


class BucketQuery(NamedTuple):
    """One series' buckets over [start, end), and which source serves which part of the range.

    Raw readings serve [start, hourly_start) and [hourly_end, end), `readings_hourly`
    [hourly_start, daily_start) and [daily_end, hourly_end), `readings_daily`
    [daily_start, daily_end); start <= hourly_start <= daily_start <= daily_end <= hourly_end
    <= end. Buckets are either `width_us` microseconds long, stepping from 2000-01-03T00:00Z
    (TimescaleDB's `time_bucket` origin), or, when `starts` is given, start at each of `starts`
    (sorted, the first at or before `start`, the last before `end`). `fill` adds a row for every
    empty bucket; `limit` None means all.
    """

    device_id: int
    sensor_id: int
    raw: bool
    width_us: int | None
    starts: list[datetime] | None
    start: datetime
    end: datetime
    hourly_start: datetime
    daily_start: datetime
    daily_end: datetime
    hourly_end: datetime
    fill: bool
    limit: int | None


class Bucket(NamedTuple):
    """One bucket's aggregate state over `n` values; `n` is None for an empty bucket (a gap)."""

    start: datetime
    n: int | None
    sum: float | None
    sum_sq: float | None
    min: float | None
    max: float | None
    first: float | None
    last: float | None


class BucketValues(NamedTuple):
    """One function's value of each bucket, newest first, and how many readings they hold;
    bucket starts are microseconds since the epoch."""

    starts: list[int]
    values: list[float | None]
    sample_size: int


# The functions `bucket_values` computes in the database (the rest need the whole state).
VALUE_FUNCTIONS = frozenset({"avg", "sum", "min", "max", "first", "last"})
# Where one rollup table serves a whole range whose buckets are its own, its rows are the answer.
_ROLLUP_ROWS = {
    table: SQL["history_rollup_rows"].replace("readings_ROLLUP", f"readings_{table}")
    for table in ("hourly", "daily")
}


def _values_of(buckets: str, function_parameter: str) -> str:
    return (
        SQL["history_bucket_values"]
        .replace("{buckets}", buckets.removesuffix(";"))
        .replace("{function}", function_parameter)
    )


_BUCKET_VALUES = _values_of(SQL["history_buckets"], "$14")
# Without `fill` the grid is empty, yet joining it costs a quarter of a raw day's execution: the
# same statement without the join (the grid, left unreferenced, is never run).
_GRID_JOIN = "FROM filled FULL JOIN grid USING (bucket)"
_BUCKET_VALUES_UNFILLED = _BUCKET_VALUES.replace(_GRID_JOIN, "FROM filled")
assert _BUCKET_VALUES.count(_GRID_JOIN) == 1, "history_buckets no longer joins its grid"
_ROLLUP_ROW_VALUES = {table: _values_of(rows, "$7") for table, rows in _ROLLUP_ROWS.items()}


def _rollup_table(query: BucketQuery) -> str | None:
    """The rollup table ("hourly" or "daily") that serves all of `query` with one row per
    bucket, if one does: then its rows are the buckets, with nothing to fold."""
    if query.fill or query.starts is not None:
        return None
    if query.width_us == DAY_US:
        served = (query.daily_start, query.daily_end) == (query.start, query.end)
        table = "daily"
    elif query.width_us == HOUR_US:
        served = (query.hourly_start, query.hourly_end) == (query.start, query.end)
        served = served and query.daily_start == query.daily_end
        table = "hourly"
    else:
        return None
    return table if served and query.start < query.end else None


def _statement(query: BucketQuery) -> tuple[str, tuple[object, ...]]:
    """The statement for the buckets of `query` and its arguments."""
    table = _rollup_table(query)
    if table is None:
        return SQL["history_buckets"], tuple(query)
    return _ROLLUP_ROWS[table], _rollup_arguments(query)


def _rollup_arguments(query: BucketQuery) -> tuple[object, ...]:
    """The arguments of history_rollup_rows for `query`."""
    return (query.device_id, query.sensor_id, query.raw, query.start, query.end, query.limit)


class StoredReading(NamedTuple):
    """One stored reading."""

    time: datetime
    value: float | None
    raw_value: float | None


async def device_sensors(
    conn: Connection,
    device_id: int,
    *,
    sensor_ids: Sequence[int] | None = None,
    keys: Sequence[str] | None = None,
) -> tuple[HistoryDevice, list[SeriesSensor]] | None:
    """The device `device_id` and each requested sensor as it knows it, in order; None if the
    device is absent or deleted. Sensors are asked for by id (`sensor_ids`) or by key (`keys`:
    resolved by the device's components, its kit, then the catalogue; a key none of them has
    gives a SeriesSensor with `sensor_id` None). One round trip: a second one, for the sensors,
    was about a tenth of a year's history at `1d`. Raises StorageError.
    """
    if (sensor_ids is None) == (keys is None):
        raise ValueError("ask for sensors by id or by key")
    wanted: list[int] | list[str]
    if sensor_ids is not None:
        statement, wanted = SQL["history_device_sensors_by_id"], list(sensor_ids)
    else:
        statement, wanted = SQL["history_device_sensors_by_key"], list(keys or ())
    with errors.translated():
        row = await conn.fetchrow(statement, device_id, wanted)
    if row is None:
        return None
    *columns, sensors = row
    return HistoryDevice(*columns), [SeriesSensor(*sensor) for sensor in sensors]


async def buckets(conn: Connection, query: BucketQuery) -> list[Bucket]:
    """The buckets of `query`, newest first; raises StorageError."""
    statement, arguments = _statement(query)
    with errors.translated():
        rows = await conn.fetch(statement, *arguments)
    return [Bucket(*row) for row in rows]


async def bucket_values(conn: Connection, query: BucketQuery, function: str) -> BucketValues:
    """`function` (one of VALUE_FUNCTIONS) of each bucket of `query`; raises StorageError.

    The same answer as `buckets` with query/rollup.py's `evaluate`, without a row per bucket:
    the database returns two arrays, which asyncpg decodes in C.
    """
    table = _rollup_table(query)
    arguments: tuple[object, ...]
    if table is None:
        statement = _BUCKET_VALUES if query.fill else _BUCKET_VALUES_UNFILLED
        arguments = tuple(query)
    else:
        statement, arguments = _ROLLUP_ROW_VALUES[table], _rollup_arguments(query)
    with errors.translated():
        row = await conn.fetchrow(statement, *arguments, function)
    assert row is not None  # an aggregate: one row, always
    return BucketValues(*row)


async def stream_buckets(
    conn: Connection, query: BucketQuery, *, batch_rows: int
) -> AsyncGenerator[list[Bucket], None]:
    """The buckets of `query`, newest first, `batch_rows` at a time; raises StorageError.

    Opens its own read-only transaction: close the iterator (contextlib.aclosing) to end it.
    """
    with errors.translated():
        async with conn.transaction(readonly=True):
            statement, arguments = _statement(query)
            cursor = await conn.cursor(statement, *arguments)
            while rows := await cursor.fetch(batch_rows):
                yield [Bucket(*row) for row in rows]


async def stream_readings(
    conn: Connection,
    device_id: int,
    sensor_id: int,
    start: datetime,
    end: datetime,
    *,
    limit: int | None,
    batch_rows: int,
) -> AsyncGenerator[list[StoredReading], None]:
    """The stored readings of one series in [start, end), newest first, in batches.

    Opens its own read-only transaction: close the iterator (contextlib.aclosing) to end it.
    Raises StorageError.
    """
    with errors.translated():
        async with conn.transaction(readonly=True):
            cursor = await conn.cursor(
                SQL["history_readings"], device_id, sensor_id, start, end, limit
            )
            while rows := await cursor.fetch(batch_rows):
                yield [StoredReading(*row) for row in rows]
