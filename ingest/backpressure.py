"""The staging backlog, polled in the background: past its bound the gateway answers 503.

When the workers fall behind, readings pile up in `ingest_batches`; refusing new ones (with
Retry-After) lets them catch up instead of letting the table grow without bound.
"""

from __future__ import annotations

import asyncio
import logging

from ingest import database
from storage import batches, errors

logger = logging.getLogger(__name__)


class BacklogMonitor:
    """Knows, to within one poll, how many readings wait in staging."""

    def __init__(self, db: database.Database, *, max_readings: int, interval_s: float) -> None:
        self._database = db
        self._max_readings = max_readings
        self._interval_s = interval_s
        self.readings = 0
        self.overloaded = False
        self._reachable = True

    async def poll(self) -> None:
        """Read the backlog once; if the database cannot be reached, keep the last answer."""
        try:
            async with self._database.connection() as conn:
                backlog = await batches.backlog(conn)
        except errors.StorageError as exc:
            if self._reachable:
                logger.warning(
                    "cannot read the staging backlog: %s", exc, extra={"action": "backlog_unknown"}
                )
            self._reachable = False
            return
        self._reachable = True
        self.readings = backlog.readings
        overloaded = backlog.readings > self._max_readings
        if overloaded != self.overloaded:
            logger.warning(
                "staging backlog %s its bound: %d readings (bound %d)",
                "over" if overloaded else "back under",
                backlog.readings,
                self._max_readings,
                extra={"action": "backlog_over" if overloaded else "backlog_under"},
            )
        self.overloaded = overloaded

    async def run(self) -> None:
        """Poll every interval until cancelled (the body of the monitor task)."""
        while True:
            await asyncio.sleep(self._interval_s)
            await self.poll()
