"""Devices, token holders and the sensor catalogue, as the gateway needs them, cached.

The hot path of a request touches no database: a device, a token's holder and the catalogue
are each loaded once per time to live, by one query, shared by the requests that missed at the
same time. Tokens are keyed by their SHA-256, never by their text.

While the gateway listens for changes to credentials (`invalidate`, fed by
storage.notifications.follow), values are kept for the long time to live (minutes) and dropped
as soon as what they were read from changes. While it does not, every cache is emptied and
values are kept only for the short time to live, so nothing is served that a missed change could
have made stale for longer than that.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from core import cache
from ingest import database, parsing
from storage import credentials, models

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Device:
    """A device with the names its readings may use."""

    record: models.IngestDevice
    names: parsing.SensorNames


class Registry:
    """Cached look-ups of devices (by id or MAC address), token holders and the catalogue."""

    def __init__(
        self,
        db: database.Database,
        *,
        ttl_s: float,
        max_entries: int,
        unwatched_ttl_s: float | None = None,
    ) -> None:
        """`ttl_s` applies while changes are watched (`watching(True)`), `unwatched_ttl_s`
        (default: `ttl_s`) otherwise; a registry starts unwatched."""
        self._database = db
        self.ttl_s = ttl_s
        self.unwatched_ttl_s = ttl_s if unwatched_ttl_s is None else min(unwatched_ttl_s, ttl_s)
        self.watched = False
        self.listens = 0  # times changes started to be watched
        short = self.unwatched_ttl_s
        self._devices: cache.TtlCache[int, Device | None] = cache.TtlCache(short, max_entries)
        self._macs: cache.TtlCache[str, Device | None] = cache.TtlCache(short, max_entries)
        self._principals: cache.TtlCache[bytes, models.TokenPrincipal | None] = cache.TtlCache(
            short, max_entries
        )
        self._catalogue: cache.TtlCache[None, dict[object, int]] = cache.TtlCache(short, 1)
        self._caches: tuple[cache.TtlCache[Any, Any], ...] = (
            self._devices,
            self._macs,
            self._principals,
            self._catalogue,
        )

    def watching(self, watched: bool) -> None:
        """Changes are (True) or are no longer (False) delivered to `invalidate`.

        Losing them empties every cache: a change may have been missed. Either way, loads in
        progress are not kept, as they may have read what a missed change replaced.
        """
        self.watched = watched
        self.listens += watched
        for values in self._caches:
            values.ttl_s = self.ttl_s if watched else self.unwatched_ttl_s
            if watched:
                values.discard_where(lambda _: False)
            else:
                values.clear()

    def invalidate(self, change: str) -> None:
        """Drop what `change` (a payload of storage.credentials.CHANNEL) made stale."""
        kind, _, subject = change.partition(":")
        try:
            if kind == "device":
                self._devices.discard(int(subject))
                self._macs.clear()  # the legacy path's few entries; a MAC may have moved
            elif kind == "token":
                self._principals.discard(bytes.fromhex(subject))
            elif kind == "user":
                user_id = int(subject)
                self._principals.discard_where(lambda p: p is not None and p.user_id == user_id)
            elif kind == "kits":
                self._devices.clear()
                self._macs.clear()
            else:  # "catalogue", "all", or one this version does not know: drop everything
                for values in self._caches:
                    values.clear()
        except ValueError:
            logger.warning("unexpected change notification %r: emptying the caches", change)
            for values in self._caches:
                values.clear()

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
