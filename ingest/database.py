"""The gateway's connection pool: opened at start if the database is up, else in the background.

While the pool is not open, and whenever an operation fails to reach the database, callers get
StorageUnavailable at once (the handlers answer 503); every operation ends within `timeout_s`.
Once open, asyncpg replaces broken connections by itself, so ingest resumes when the database
is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from storage import errors, pool
from storage.config import DatabaseSettings

logger = logging.getLogger(__name__)


class Database:
    """A pool that may not be open yet; `connection()` is the way in."""

    def __init__(self, settings: DatabaseSettings, *, timeout_s: float) -> None:
        self.settings = settings
        self.timeout_s = timeout_s
        self.pool: pool.Pool | None = None
        self.opened = asyncio.Event()
        self.last_error: Exception | None = None

    async def open(self) -> bool:
        """Try once to open the pool; returns whether it is open."""
        if self.pool is not None:
            return True
        try:
            async with asyncio.timeout(self.timeout_s):
                self.pool = await pool.open(self.settings)
        except errors.UnsafeDatabase:
            raise  # not an outage to wait out: the process stops
        except (errors.StorageError, TimeoutError) as exc:
            logger.debug("database not reachable: %s", exc)
            self.last_error = exc
            return False
        self.opened.set()
        logger.info("connected to %s", self.settings.display, extra={"action": "db_connected"})
        return True

    async def keep_opening(self, first_delay_s: float = 0.1, max_delay_s: float = 2.0) -> None:
        """Retry `open` with a growing delay until it succeeds (the body of a background task)."""
        delay = first_delay_s
        while not await self.open():
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay_s)

    async def close(self, timeout_s: float) -> None:
        """Close the pool, waiting up to `timeout_s` for connections in use."""
        if self.pool is not None:
            await pool.close(self.pool, timeout=timeout_s)
            self.pool = None

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[pool.Connection]:
        """A pooled connection for one operation, which must end within `timeout_s`.

        Raises StorageUnavailable when the pool is not open, no connection can be had, or the
        operation runs out of time.
        """
        if self.pool is None:
            raise errors.StorageUnavailable("the database is not reachable yet")
        with errors.translated():
            async with asyncio.timeout(self.timeout_s), self.pool.acquire() as conn:
                yield conn
