"""What the world map reads: the devices it shows with their latest readings, and its channel.

`sensorium_devices_changed` is notified (by the triggers of migration 0012) at the commit of
anything that changes devices, their owners, kits or latest readings: with the payload `FULL`
when rows were deleted (which only a full read notices), else with an empty one.

A read also gives its horizon, and `changed_devices` reads only the devices written since a
horizon: PostgreSQL stamps every row version with the id of the transaction that wrote it
(`xmin`), and every transaction the read did not see has an id from its horizon on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any, LiteralString, NamedTuple

from storage import errors, notifications
from storage import pool as storage_pool
from storage.config import DatabaseSettings
from storage.queries import SQL

CHANNEL = "sensorium_devices_changed"
FULL = "full"  # the payload of a change that only a full read notices (rows deleted)

# A world-map row: the columns of `device_by_id` that the map needs (the owner's username, the
# kit's slug, name and version), and `sensor_ids`, `raw_values`, `values`: its latest readings
# as arrays ordered by sensor id (None when it has none). The arrays, `user_tags` too, come as
# their JSON text, so every value of a row is a string, number, time or None: the garbage
# collector never tracks a dict that holds only such values. The query service keeps 20,000
# rows for its map, and while they were tracked (holding lists or tuples) each collection
# walked all of them: young ones 5-16 ms while a rebuild read them, a full one about 28 ms, a
# stall of every request in progress.
Row = dict[str, Any]


def _with_columns(query: LiteralString) -> LiteralString:
    """A query of storage/sql/worldmap.sql with a row's columns where it says WORLDMAP_COLUMNS."""
    return query.replace("WORLDMAP_COLUMNS", SQL["worldmap_columns"])


_PUBLIC_DEVICES = _with_columns(SQL["worldmap_public_devices"])
# The devices of $1 (ids) that the public map shows, as worldmap_public_devices says.
_SHOWN_DEVICES = _with_columns(SQL["worldmap_devices_where"]).replace(
    "WORLDMAP_WHICH", "d.id = ANY($1::bigint[]) AND NOT d.is_test AND NOT d.is_private"
)
# The maps a user's own key sees besides the public one.
# Own: the user's devices that are not tests, and every private one for an admin.
_OWN_DEVICES = _with_columns(SQL["worldmap_devices_where"]).replace(
    "WORLDMAP_WHICH", "(d.owner_id = $1 OR ($2::boolean AND d.is_private)) AND NOT d.is_test"
)
# Test: the test devices that are public, the user's own, or any for an admin.
_TEST_DEVICES = _with_columns(SQL["worldmap_devices_where"]).replace(
    "WORLDMAP_WHICH", "d.is_test AND (NOT d.is_private OR d.owner_id = $1 OR $2::boolean)"
)


class Read(NamedTuple):
    """Rows read and the read's horizon: what `changed_devices` reads changes since."""

    rows: list[Row]
    horizon: int


class Changes(NamedTuple):
    """The devices written since a read: the rows of those the public map shows, by id, the ids
    of those it does not show (any more), and this read's horizon."""

    rows: list[Row]
    hidden: list[int]
    horizon: int


async def public_devices(pool: storage_pool.Pool, *, chunk: int = 1000) -> Read:
    """Every device of the public map (public, not a test, located, has posted), by id.

    Read on a connection of `pool`, `chunk` rows at a time from one read-only snapshot, so
    decoding a large map does not hold the event loop for long at once.
    Raises StorageUnavailable if the database is unreachable.
    """
    with errors.translated():
        async with _snapshot(pool) as conn:
            horizon = await conn.fetchval(SQL["worldmap_horizon"])
            rows = await _rows(conn, _PUBLIC_DEVICES, (), chunk)
    return Read(rows, horizon)


async def changed_devices(pool: storage_pool.Pool, since: int, *, chunk: int = 250) -> Changes:
    """The devices whose row, owner, kit or latest readings may have changed since the read
    with horizon `since` (a few more at times). Deletions are not seen.

    Costs the database a scan of devices and latest readings without aggregating them (≈ 25 ms
    for 20,000 devices with 10 latest readings each, most of it the latest readings), then a
    look-up per device found, against aggregating every device's latest readings for a full
    read (≈ 100-200 ms). Read like `public_devices`. Raises StorageUnavailable if the database
    is unreachable.
    """
    with errors.translated():
        async with _snapshot(pool) as conn:
            horizon = await conn.fetchval(SQL["worldmap_horizon"])
            found: list[int] = await conn.fetchval(SQL["worldmap_changed_ids"], since)
            # Nothing written (a bare notification, or one for rows the map does not show):
            # no second statement.
            rows = await _rows(conn, _SHOWN_DEVICES, (found,), chunk) if found else []
    shown = {row["id"] for row in rows}
    return Changes(rows, [key for key in found if key not in shown], horizon)


@contextlib.asynccontextmanager
async def _snapshot(pool: storage_pool.Pool) -> AsyncIterator[storage_pool.Connection]:
    """A connection of `pool` in a read-only transaction whose statements all see one snapshot,
    so that the horizon read first is the horizon of what follows."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        yield conn


async def _rows(
    conn: storage_pool.Connection, query: str, arguments: tuple[Any, ...], chunk: int
) -> list[Row]:
    """The rows of `query`, `chunk` at a time."""
    rows: list[Row] = []
    cursor = await conn.cursor(query, *arguments)
    while batch := await cursor.fetch(chunk):
        rows.extend(dict(record) for record in batch)
    return rows


async def own_devices(
    conn: storage_pool.Connection, owner_id: int, *, admin: bool = False
) -> list[Row]:
    """The live devices of `owner_id`, private ones included (and every private device for an
    `admin`), that a map shows, by id."""
    with errors.translated():
        records = await conn.fetch(_OWN_DEVICES, owner_id, admin)
    return [dict(record) for record in records]


async def deleted_since(conn: storage_pool.Connection, since: datetime) -> list[int]:
    """The ids of devices deleted at or after `since` (and not purged yet)."""
    with errors.translated():
        records = await conn.fetch(SQL["worldmap_deleted_since"], since)
    return [record[0] for record in records]


async def test_devices(conn: storage_pool.Connection, user_id: int, *, admin: bool) -> list[Row]:
    """The test devices a test key of `user_id` sees on a map (public ones and its own; every
    one for an `admin`), by id."""
    with errors.translated():
        records = await conn.fetch(_TEST_DEVICES, user_id, admin)
    return [dict(record) for record in records]


async def listen(
    db: DatabaseSettings,
    on_change: Callable[[str], None],
    on_lost: Callable[[], None],
    *,
    timeout_s: float,
) -> storage_pool.Connection:
    """A connection LISTENing on CHANNEL: `on_change(payload)` runs at each notification,
    `on_lost` if the connection closes. Raises StorageUnavailable if the database cannot be
    reached within `timeout_s`, StorageError if it refuses us."""
    opening = asyncio.ensure_future(
        notifications.connect(db, CHANNEL, on_change, timeout_s=timeout_s)
    )
    try:
        conn = await asyncio.shield(opening)
    except asyncio.CancelledError:
        # Cancelling the driver half-way through its handshake leaves a future nobody reads;
        # let the attempt end (it is bounded by timeout_s), then drop what it opened.
        await asyncio.wait([opening])
        if not opening.cancelled() and opening.exception() is None:
            opening.result().terminate()
        raise
    conn.add_termination_listener(lambda *_: on_lost())
    return conn


async def close_listener(conn: storage_pool.Connection, *, timeout_s: float) -> None:
    """Close a connection from `listen`, terminating it if it does not close within `timeout_s`."""
    if conn.is_closed():
        return
    try:
        with errors.translated():
            await asyncio.wait_for(conn.close(), timeout_s)
    except errors.StorageError:
        conn.terminate()
