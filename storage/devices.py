"""Devices as the query service reads them: the device row, its owner and kit, its sensors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from storage import errors
from storage.models import DeviceSensor
from storage.pool import Connection
from storage.queries import SQL


async def device(conn: Connection, device_id: int) -> Mapping[str, Any] | None:
    """The device `device_id` with owner and kit columns, or None if absent or deleted."""
    with errors.translated():
        row = await conn.fetchrow(SQL["device_by_id"], device_id)
    return dict(row) if row is not None else None


async def sensors(conn: Connection, device_id: int, kit_id: int | None) -> list[DeviceSensor]:
    """The device's sensors (components and kit sensors) with their latest readings."""
    with errors.translated():
        rows = await conn.fetch(SQL["device_sensors"], device_id, kit_id)
    return [DeviceSensor(*row) for row in rows]
