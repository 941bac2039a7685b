"""Two bounds watched in the background; past either, the gateway answers readings posts 503.

- The staging backlog: when the workers fall behind, readings pile up in `ingest_batches`;
  refusing new ones (with Retry-After) lets them catch up instead of letting the table grow
  without bound.
- The event loop's lag: a gateway short of CPU falls behind its own connections, and requests
  wait in socket buffers and in the loop's queue before any handler sees them, a wait nothing
  else bounds. Refusing a post before its body is read costs a fraction of taking it, so while
  the loop runs late the posts it does take keep a bounded latency.
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


class LoopLag:
    """How late the event loop runs a timer due every `interval_s`. When `sustained` timers in a
    row run more than `max_lag_s` late (0: never), the gateway counts as short of CPU until a
    timer runs on time again. One long stall (a large body parsed, a garbage collection) makes
    one late timer and refuses nothing; a loop behind with its connections runs every timer late.
    """

    def __init__(self, *, max_lag_s: float, interval_s: float, sustained: int = 3) -> None:
        self._max_lag_s = max_lag_s
        self._interval_s = interval_s
        self._sustained = sustained
        self.lag_s = 0.0
        self.late = 0  # timers in a row that ran over the bound
        self.overloaded = False

    async def run(self) -> None:
        """Time the loop until cancelled (the body of the lag task)."""
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self._interval_s
            await asyncio.sleep(self._interval_s)
            self.record(loop.time() - due)

    def record(self, lag_s: float) -> None:
        """Take one measurement of how late a timer ran."""
        self.lag_s = lag_s
        self.late = self.late + 1 if 0 < self._max_lag_s < lag_s else 0
        overloaded = self.late >= self._sustained
        if overloaded != self.overloaded:
            logger.warning(
                "event loop %s its bound: a timer ran %.0f ms late (bound %.0f ms, %d in a row)",
                "over" if overloaded else "back under",
                lag_s * 1000,
                self._max_lag_s * 1000,
                self._sustained,
                extra={"action": "loop_lag_over" if overloaded else "loop_lag_under"},
            )
        self.overloaded = overloaded
