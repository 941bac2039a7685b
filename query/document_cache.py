"""Device documents, kept in the query service while it follows what changes them.

A device document is the service's most frequent request, and reading it (`device_by_id`:
the device, its owner and kit, its sensors with their latest readings) costs more than building
and encoding it from what was read. So what a read returns (the row and the sensors' JSON, or
None for a device that does not exist) is kept per device, and a document is built from it for
each request, with the moment of the request (status, `new` tag) and what the asker may see.
The anonymous answer, the same for every anonymous request, is kept encoded beside it until
the clock changes its status or `new` tag (`Kept`).

It is kept only while the service listens on `sensorium_documents_changed` (migration 0013:
triggers on everything a document is read from, the workers' writes at each claim included),
and dropped as soon as a notification names it. While the service does not listen (at start,
or once the connection is lost, until it listens again) every document is read from the
database and nothing is kept, so a change nobody heard can never be served. A read that overlaps
a notification is answered but not kept (core.cache). Another process's write is seen here as
soon as its notification arrives, within milliseconds of its commit; this process's own writes
(the registry's, the accounts', the catalogue's) drop every document at once
(`writes_committed`), so whoever changes a device through this service reads it back changed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import typedefs, web

from core import cache
from core.web import Handler
from storage import devices
from storage import pool as storage_pool

logger = logging.getLogger(__name__)

# A round trip on the listening connection this often, answered within as long: a connection
# that died silently is noticed (and nothing kept) within twice this.
HEARTBEAT_S = 2.0
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(slots=True)
class Kept:
    """What `storage.devices.device` read for a device, and its anonymous answer once encoded
    (the same for every anonymous request until `public_until`, when the clock changes its
    status or `new` tag; None: never)."""

    row: Mapping[str, Any]
    sensors: str
    public_body: bytes | None = None
    public_until: datetime | None = None


# A device's Kept, or None if it does not exist.
Found = Kept | None


class DocumentCache:
    """Device documents' rows by device id, kept while changes to them are watched."""

    def __init__(self, *, ttl_s: float, max_entries: int) -> None:
        """Keep at most `max_entries` devices (none: every document is read) for at most
        `ttl_s` each; a cache starts unwatched."""
        self.enabled = max_entries > 0
        self.watched = False
        self.listens = 0  # times changes started to be watched
        self.requests = 0  # documents asked for through `device`
        self.reads = 0  # of which read from the database
        self._values: cache.TtlCache[int, Found] = cache.TtlCache(ttl_s, max(max_entries, 1))

    def __len__(self) -> int:
        return len(self._values)

    def watching(self, watched: bool) -> None:
        """Changes are (True) or are no longer (False) delivered to `invalidate`. Either way
        nothing kept so far is trusted: a change may have gone unheard."""
        self.watched = watched
        self.listens += watched
        self._values.clear()

    def invalidate(self, change: str) -> None:
        """Drop what `change` (a payload of storage.devices.CHANNEL) made stale."""
        kind, _, subject = change.partition(":")
        try:
            if kind == "devices":
                for device_id in [int(key) for key in subject.split(",")]:
                    self._values.discard(device_id)
            elif kind == "owner":
                owner_id = int(subject)
                self._values.discard_where(
                    lambda found: found is not None and found.row["owner_id"] == owner_id
                )
            else:  # "all", or one this version does not know
                self._values.clear()
        except ValueError:
            logger.warning("unexpected document change notification %r: emptying", change)
            self._values.clear()

    def writes_committed(self) -> None:
        """This process committed a write that may change documents: drop every one, so the
        writer's next read cannot come before the write's notification does."""
        self._values.clear()

    async def device(
        self, pool: storage_pool.Pool, device_id: int, *, fresh: bool = False
    ) -> Found:
        """What `storage.devices.device` reads for `device_id` (a Kept), kept or read on a
        connection of `pool` (always read when `fresh`). Raises StorageUnavailable."""
        self.requests += 1

        async def read() -> Found:
            self.reads += 1
            async with pool.acquire() as conn:
                found = await devices.device(conn, device_id)
            return None if found is None else Kept(*found)

        if fresh or not self.watched or not self.enabled:
            return await read()
        return await self._values.get(device_id, read)


def middleware(documents: DocumentCache) -> typedefs.Middleware:
    """Calls `documents.writes_committed` when a request that may write (any method but GET,
    HEAD and OPTIONS) has been answered, whatever the answer: its transaction has ended."""

    @web.middleware
    async def after_writes(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        finally:
            if request.method not in SAFE_METHODS:
                documents.writes_committed()

    return after_writes
