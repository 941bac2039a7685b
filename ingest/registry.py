"""Devices, token holders and the sensor catalogue, as the gateway needs them, cached briefly.

The hot path of a request touches no database: a device, a token's holder and the catalogue
are each loaded once per time to live (a few seconds), by one query, shared by the requests
that missed at the same time. Tokens are keyed by their SHA-256, never by their text.
"""

from __future__ import annotations

from dataclasses import dataclass

from ingest import cache, database, parsing
from storage import credentials, models


@dataclass(frozen=True, slots=True)
class Device:
    """A device with the names its readings may use."""

    record: models.IngestDevice
    names: parsing.SensorNames


class Registry:
    """Cached look-ups of devices (by id or MAC address), token holders and the catalogue."""

    def __init__(self, db: database.Database, *, ttl_s: float, max_entries: int) -> None:
        self._database = db
        self._devices: cache.TtlCache[int, Device | None] = cache.TtlCache(ttl_s, max_entries)
        self._macs: cache.TtlCache[str, Device | None] = cache.TtlCache(ttl_s, max_entries)
        self._principals: cache.TtlCache[bytes, models.TokenPrincipal | None] = cache.TtlCache(
            ttl_s, max_entries
        )
        self._catalogue: cache.TtlCache[None, dict[object, int]] = cache.TtlCache(ttl_s, 1)

    async def device(self, device_id: int) -> Device | None:
        """The live device `device_id`, or None; raises StorageUnavailable."""

        async def load() -> Device | None:
            catalogue = await self.catalogue()
            async with self._database.connection() as conn:
                record = await credentials.device(conn, device_id)
            return _device(record, catalogue)

        return await self._devices.get(device_id, load)

    async def device_by_mac(self, mac_address: str) -> Device | None:
        """The live device with this MAC address (lowercase colon form), or None."""

        async def load() -> Device | None:
            catalogue = await self.catalogue()
            async with self._database.connection() as conn:
                record = await credentials.device_by_mac(conn, mac_address)
            return _device(record, catalogue)

        return await self._macs.get(mac_address, load)

    async def principal(self, token_hash: bytes) -> models.TokenPrincipal | None:
        """Who holds the token with this SHA-256, or None if no live token matches."""

        async def load() -> models.TokenPrincipal | None:
            async with self._database.connection() as conn:
                return await credentials.token_principal(conn, token_hash)

        return await self._principals.get(token_hash, load)

    async def catalogue(self) -> dict[object, int]:
        """Sensor ids and unambiguous default keys (see parsing.SensorNames)."""

        async def load() -> dict[object, int]:
            async with self._database.connection() as conn:
                sensors = await credentials.sensor_catalogue(conn)
            return parsing.catalogue_names([(s.id, s.default_key) for s in sensors])

        return await self._catalogue.get(None, load)


def _device(record: models.IngestDevice | None, catalogue: dict[object, int]) -> Device | None:
    if record is None:
        return None
    keys = parsing.device_keys(record.kit_keys, record.component_keys)
    return Device(record, parsing.SensorNames(keys, catalogue))
