"""The device registry: creating, editing, deleting devices and rotating their tokens, and
purging what a deleted device left behind (readings, rollups, latest values, staging).

Every write takes the device row's lock first (`editable`, inside the caller's transaction),
so a check of who may write and the write itself see the same device.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from storage import errors
from storage.pool import Connection
from storage.queries import SQL


class NewDevice(NamedTuple):
    """A device to create: its owner, its fields and its token's hash."""

    owner_id: int
    name: str
    description: str | None
    kit_id: int | None
    mac_address: str
    latitude: float | None
    longitude: float | None
    elevation: float | None
    exposure: str | None
    user_tags: list[str]
    is_private: bool
    precise_location: bool
    is_test: bool
    token_hash: bytes


class Writable(NamedTuple):
    """A device's writable fields, in the order `registry_update_device` binds them."""

    name: str
    description: str | None
    kit_id: int | None
    mac_address: str | None
    latitude: float | None
    longitude: float | None
    elevation: float | None
    exposure: str | None
    user_tags: list[str]
    is_private: bool
    precise_location: bool


class PurgeTarget(NamedTuple):
    """A deleted device to purge; `settled` once no gateway can still accept its readings."""

    id: int
    settled: bool


# What a deleted device leaves, in the order it is purged: staging first, so workers stop
# adding readings, then the readings and what summarises them. Each table with the columns that
# identify its rows.
PURGED_TABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ingest_batches", ("id",)),
    ("readings", ("device_id", "sensor_id", "time")),
    ("readings_hourly", ("device_id", "sensor_id", "bucket")),
    ("readings_daily", ("device_id", "sensor_id", "bucket")),
    ("latest_readings", ("device_id", "sensor_id")),
    ("dead_letters", ("id",)),
)


def _purge_statement(table: str, key: tuple[str, ...]) -> str:
    """storage/sql/registry.sql's `registry_purge_rows` for one table."""
    return (
        SQL["registry_purge_rows"]
        .replace("PURGE_T_KEY", ", ".join(f"t.{column}" for column in key))
        .replace("PURGE_DOOMED_KEY", ", ".join(f"doomed.{column}" for column in key))
        .replace("PURGE_KEY", ", ".join(key))
        .replace("PURGE_TABLE", table)
    )


_PURGE = {table: _purge_statement(table, key) for table, key in PURGED_TABLES}


async def kit_exists(conn: Connection, kit_id: int) -> bool:
    """Whether kit `kit_id` exists; raises StorageError."""
    with errors.translated():
        return bool(await conn.fetchval(SQL["registry_kit_exists"], kit_id))


async def mac_holder(conn: Connection, mac_address: str, *, other_than: int | None) -> int | None:
    """The live device (other than `other_than`) with this lowercase colon-form MAC, or None."""
    with errors.translated():
        found: int | None = await conn.fetchval(SQL["registry_mac_holder"], mac_address, other_than)
    return found


async def create(conn: Connection, device: NewDevice) -> int:
    """Insert `device`; its id. Raises UniqueViolation if its MAC address (or token) is taken."""
    with errors.translated():
        device_id: int = await conn.fetchval(SQL["registry_insert_device"], *device)
    return device_id


async def editable(conn: Connection, device_id: int) -> dict[str, Any] | None:
    """The live device `device_id` (owner, privacy, test flag and writable fields), locked until
    the caller's transaction ends; None if absent or deleted. Raises StorageError."""
    with errors.translated():
        row = await conn.fetchrow(SQL["registry_device_for_update"], device_id)
    return None if row is None else dict(row)


async def update(conn: Connection, device_id: int, fields: Writable) -> bool:
    """Write every writable field of the live device; whether it was live. Raises
    UniqueViolation if the MAC address is taken."""
    with errors.translated():
        status = await conn.execute(SQL["registry_update_device"], device_id, *fields)
    return status.endswith(" 1")


async def delete(conn: Connection, device_id: int) -> bool:
    """Soft-delete the live device (it disappears from every read at commit) and forget its
    token; whether it was live. Raises StorageError."""
    with errors.translated():
        return await conn.fetchval(SQL["registry_delete_device"], device_id) is not None


async def set_token(conn: Connection, device_id: int, token_hash: bytes) -> bool:
    """Replace the live device's token by the one hashed as `token_hash`; whether it was live."""
    with errors.translated():
        return await conn.fetchval(SQL["registry_set_token"], device_id, token_hash) is not None


async def next_to_purge(
    conn: Connection, *, skip: Sequence[int], settle_s: float
) -> PurgeTarget | None:
    """A deleted device not yet purged and not in `skip`, locked against other purgers until
    the caller's transaction ends (devices another purger holds are passed over); None if
    there is none. `settled` when it was deleted more than `settle_s` seconds ago."""
    with errors.translated():
        row = await conn.fetchrow(SQL["registry_next_to_purge"], list(skip), settle_s)
    return None if row is None else PurgeTarget(*row)


async def purge_slice(conn: Connection, device_id: int, limit: int) -> dict[str, int]:
    """Delete at most `limit` rows of the deleted device's data in all, table by table in
    PURGED_TABLES order; rows deleted per table reached. Raises StorageError."""
    deleted: dict[str, int] = {}
    budget = limit
    with errors.translated():
        for table, _ in PURGED_TABLES:
            deleted[table] = await conn.fetchval(_PURGE[table], device_id, budget)
            budget -= deleted[table]
            if budget <= 0:
                break
    return deleted


async def mark_purged(conn: Connection, device_id: int) -> bool:
    """Record that nothing of the deleted device is left; False if another purger recorded it
    first (it may have locked the device as this one's snapshot was taken). Raises StorageError."""
    with errors.translated():
        return await conn.fetchval(SQL["registry_mark_purged"], device_id) is not None
