"""What the ingest gateway looks up: devices with their keys, token owners, the sensor catalogue."""

from __future__ import annotations

from storage import errors
from storage.models import IngestDevice, SensorKey, TokenPrincipal
from storage.pool import Connection
from storage.queries import SQL

# Where changes to devices, tokens, users, kits' keys and the catalogue are announced (migration
# 0010; followed with storage.notifications).
CHANNEL = "sensorium_credentials_changed"


async def device(conn: Connection, device_id: int) -> IngestDevice | None:
    """The live device `device_id`, or None if unknown or deleted."""
    with errors.translated():
        row = await conn.fetchrow(SQL["ingest_device"], device_id)
    return IngestDevice(*row) if row else None


async def device_by_mac(conn: Connection, mac_address: str) -> IngestDevice | None:
    """The live device with this MAC address (lowercase colon form), or None."""
    with errors.translated():
        row = await conn.fetchrow(SQL["ingest_device_by_mac"], mac_address.lower())
    return IngestDevice(*row) if row else None


async def token_principal(conn: Connection, token_hash: bytes) -> TokenPrincipal | None:
    """Who holds the token whose SHA-256 is `token_hash`, or None if no live token matches.

    A user's access token or API key (not revoked; the caller checks `expires_at`) comes before
    a device token.
    """
    with errors.translated():
        row = await conn.fetchrow(SQL["token_principal"], token_hash)
    return TokenPrincipal(*row) if row else None


async def sensor_catalogue(conn: Connection) -> list[SensorKey]:
    """Every sensor of the catalogue with its default key, by id."""
    with errors.translated():
        rows = await conn.fetch(SQL["sensor_catalogue"])
    return [SensorKey(*row) for row in rows]
