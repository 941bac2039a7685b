"""Following a channel of notifications to keep an in-process cache honest.

`follow` is the body of a background task. It opens a connection that LISTENs on a channel and
hands each notification to the cache's `invalidate`; while it listens, the cache may keep what it
read (`watching(True)`). A round trip every `heartbeat_s` proves the connection alive
(notifications committed before it have arrived); when one fails, or the connection closes, the
cache is told (`watching(False)`: it empties itself, since a change may have been missed) and
the task listens again with a growing delay. A heartbeat and its timeout bound how long a silently
dead connection can go unnoticed.

The gateway follows `sensorium_credentials_changed` (storage.credentials, migration 0010) for its
registry of devices and tokens; the query service follows `sensorium_documents_changed`
(storage.devices, migration 0013) for its device documents.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from storage import errors, pool
from storage.config import DatabaseSettings
from storage.pool import Connection
from storage.queries import SQL

logger = logging.getLogger(__name__)


class Follower(Protocol):
    """A cache that follows a channel."""

    def watching(self, watched: bool) -> None:
        """Notifications are (True) or are no longer (False) delivered to `invalidate`."""

    def invalidate(self, change: str) -> None:
        """Drop what the notification's payload `change` made stale."""


async def listen(
    db: DatabaseSettings,
    channel: str,
    on_change: Callable[[str], None],
    on_lost: Callable[[], None],
    *,
    timeout_s: float,
) -> Connection:
    """A connection LISTENing on `channel`: `on_change(payload)` runs at each notification,
    `on_lost` if the connection closes. Raises StorageUnavailable if the database cannot be
    reached within `timeout_s`."""
    conn = await connect(db, channel, on_change, timeout_s=timeout_s)
    conn.add_termination_listener(lambda *_: on_lost())
    return conn


async def connect(
    db: DatabaseSettings, channel: str, on_change: Callable[[str], None], *, timeout_s: float
) -> Connection:
    """As `listen`, without telling anyone when the connection closes."""
    conn: Connection | None = None
    try:
        with errors.translated():
            async with asyncio.timeout(timeout_s):
                conn = await pool.connect(db)
                await conn.add_listener(channel, lambda *args: on_change(args[-1]))
    except BaseException:
        if conn is not None:
            conn.terminate()
        raise
    return conn


async def ping(conn: Connection, *, timeout_s: float) -> None:
    """A round trip on `conn`: notifications committed before it have been delivered when it
    returns. Raises StorageUnavailable if it does not answer within `timeout_s`."""
    with errors.translated():
        async with asyncio.timeout(timeout_s):
            await conn.fetchval(SQL["listener_ping"])


async def follow(
    db: DatabaseSettings,
    channel: str,
    cache: Follower,
    *,
    what: str,
    heartbeat_s: float,
    timeout_s: float,
    max_delay_s: float = 2.0,
) -> None:
    """Listen on `channel` for `cache` until cancelled, reconnecting with a growing delay when
    lost. `what` names the changes in the log (`<what>_listening`, `<what>_unwatched`)."""
    delay = min(0.1, max_delay_s)
    while True:
        lost = asyncio.Event()
        try:
            conn = await listen(
                db, channel, lambda change: cache.invalidate(change), lost.set, timeout_s=timeout_s
            )
        except errors.StorageError as exc:
            logger.debug("cannot listen on %s: %s", channel, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay_s)
            continue
        delay = min(0.1, max_delay_s)
        cache.watching(True)
        logger.info(
            "listening on %s for changes to %s",
            channel,
            what,
            extra={"action": f"{what}_listening"},
        )
        try:
            await _beat(conn, lost, heartbeat_s=heartbeat_s, timeout_s=timeout_s)
        finally:
            cache.watching(False)
            conn.terminate()
        logger.warning(
            "lost %s: changes to %s unwatched until listening again",
            channel,
            what,
            extra={"action": f"{what}_unwatched"},
        )


async def _beat(
    conn: Connection, lost: asyncio.Event, *, heartbeat_s: float, timeout_s: float
) -> None:
    """Return when the connection is lost or stops answering."""
    while not lost.is_set():
        try:
            await asyncio.wait_for(lost.wait(), heartbeat_s)
            return
        except TimeoutError:
            pass
        try:
            await ping(conn, timeout_s=timeout_s)
        except errors.StorageError as exc:
            logger.debug("the connection listening on %s stopped answering: %s", conn, exc)
            return
