"""Devices as the query service reads them: the device row, its owner and kit, its sensors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from storage import errors
from storage.models import DeviceSensor
from storage.pool import Connection
from storage.queries import SQL


async def device(
    conn: Connection, device_id: int
) -> tuple[Mapping[str, Any], list[DeviceSensor]] | None:
    """The device `device_id` with owner and kit columns, and its sensors (components and kit
    sensors) with their latest readings; None if absent or deleted. One query: a device
    document is the service's most frequent request, and a second round trip was a sixth of it.
    """
    with errors.translated():
        row = await conn.fetchrow(SQL["device_by_id"], device_id)
    if row is None:
        return None
    columns = dict(row)
    sensors = [DeviceSensor(*sensor) for sensor in columns.pop("sensors")]
    return columns, sensors
