"""Keep the registry's caches honest: LISTEN for changes to credentials and drop what they touch.

`follow` is the body of a background task. It opens a connection that LISTENs on
storage.credentials.CHANNEL and hands each notification to `Registry.invalidate`; while it
listens, the registry keeps values for its long time to live. A round trip every `heartbeat_s`
proves the connection alive (notifications committed before it have arrived); when one fails,
or the connection closes, the registry empties its caches and falls back to the short time to
live until the task listens again. A heartbeat and its timeout together stay under the short
time to live, so no change can go unseen for longer than that.
"""

from __future__ import annotations

import asyncio
import logging

from ingest import registry
from storage import credentials, errors
from storage import pool as storage_pool
from storage.config import DatabaseSettings

logger = logging.getLogger(__name__)


async def follow(
    db: DatabaseSettings,
    known: registry.Registry,
    *,
    heartbeat_s: float,
    timeout_s: float,
    max_delay_s: float = 2.0,
) -> None:
    """Listen for changes until cancelled, reconnecting with a growing delay when lost."""
    delay = min(0.1, max_delay_s)
    while True:
        lost = asyncio.Event()
        try:
            conn = await credentials.listen(db, known.invalidate, lost.set, timeout_s=timeout_s)
        except errors.StorageError as exc:
            logger.debug("cannot listen for credential changes: %s", exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay_s)
            continue
        delay = min(0.1, max_delay_s)
        known.watching(True)
        logger.info(
            "listening for credential changes: caching for %.0fs",
            known.ttl_s,
            extra={"action": "credentials_listening"},
        )
        try:
            await _beat(conn, lost, heartbeat_s=heartbeat_s, timeout_s=timeout_s)
        finally:
            known.watching(False)
            conn.terminate()
        logger.warning(
            "lost the credential changes: caching for %.0fs until listening again",
            known.unwatched_ttl_s,
            extra={"action": "credentials_unwatched"},
        )


async def _beat(
    conn: storage_pool.Connection, lost: asyncio.Event, *, heartbeat_s: float, timeout_s: float
) -> None:
    """Return when the connection is lost or stops answering."""
    while not lost.is_set():
        try:
            await asyncio.wait_for(lost.wait(), heartbeat_s)
            return
        except TimeoutError:
            pass
        try:
            await credentials.ping(conn, timeout_s=timeout_s)
        except errors.StorageError as exc:
            logger.debug("credential changes connection stopped answering: %s", exc)
            return
