"""The sensor catalogue: every sensor with its calibration equations."""

from __future__ import annotations

from storage import errors
from storage.models import Sensor
from storage.pool import Connection
from storage.queries import SQL


async def load_sensors(conn: Connection) -> list[Sensor]:
    """Every sensor of the catalogue, by id. Raises StorageUnavailable or StorageError."""
    with errors.translated():
        rows = await conn.fetch(SQL["catalogue_sensors"])
    return [Sensor(*row) for row in rows]
