"""Devices as the query service reads them: the device row, its owner and kit, its sensors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from storage import errors
from storage.pool import Connection
from storage.queries import SQL

# Where changes to what device documents are read from are announced (migration 0013; the query
# service follows it with storage.notifications to keep documents in memory).
CHANNEL = "sensorium_documents_changed"


async def device(conn: Connection, device_id: int) -> tuple[Mapping[str, Any], str] | None:
    """The device `device_id` with owner and kit columns, and its sensors (components and kit
    sensors) with their latest readings as the JSON text of the device document's
    `data.sensors`; None if absent or deleted.

    One query: a device document is the service's most frequent request, and a second round
    trip was a sixth of it. The database writes the sensors' JSON: decoding them as records
    and building their entries took the query service 40-100 µs more CPU per document than
    parsing that JSON (194-249 µs for the query, the document and its encoding, against
    148-155), and writing JSON takes the database ≈ 50 µs more. The text is compact and goes
    into the answer as it is. (Numbers are written as PostgreSQL writes them, `40` rather than
    `40.0` and `1e-07` rather than `1e-7`: the same JSON numbers.)
    """
    with errors.translated():
        row = await conn.fetchrow(SQL["device_by_id"], device_id)
    if row is None:
        return None
    columns = dict(row)
    sensors: str = columns.pop("sensors")
    return columns, sensors
