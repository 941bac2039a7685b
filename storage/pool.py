"""asyncpg pools for the services: open (failing fast), close (bounded)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg
import orjson

from storage import errors
from storage.config import DatabaseSettings
from storage.queries import SQL

logger = logging.getLogger(__name__)

Pool = asyncpg.Pool
# What handlers get from a pool (a proxy of asyncpg.Connection) and what functions take.
Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


async def _init_connection(conn: asyncpg.Connection) -> None:
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(
            kind,
            encoder=lambda v: orjson.dumps(v).decode(),
            decoder=orjson.loads,
            schema="pg_catalog",
        )


async def _connect(*args: Any, **kwargs: Any) -> asyncpg.Connection:
    """asyncpg.connect, failing as our errors do: a pool connects when a connection is acquired
    and none is open (after the server restarted, say), and its callers catch StorageUnavailable,
    not the driver's ConnectionRefusedError."""
    with errors.translated():
        return await asyncpg.connect(*args, **kwargs)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Release a connection to the pool as it is, without asyncpg's default reset.

    The default (`SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`) is one more
    round trip on every release, and there is nothing for it to undo here: no statement run on a
    pooled connection takes a session-level advisory lock (the registry's purge takes
    `pg_try_advisory_xact_lock`, released at commit; only migrations lock for the session, on a
    psycopg connection of their own), opens a cursor outside a transaction (cursors are read
    inside `conn.transaction()`, so they close at its end), LISTENs (the world map and the
    workers listen on connections from `connect`, outside any pool) or SETs a session setting
    (none anywhere; settings are fixed per connection by `server_settings`). The workers'
    temporary staging tables are emptied at each commit, and the default reset kept them too.
    asyncpg still rolls back a transaction left open, and forgets its own listeners, before
    calling this.
    """


async def open(db: DatabaseSettings, *, max_size: int | None = None) -> Pool:
    """An open pool to `db`, raising StorageUnavailable if unreachable.

    Raises UnsafeDatabase if the server could lose what it reports committed (fsync or
    synchronous_commit off, as this pool's sessions see them) unless `db.throwaway` says so.
    """
    size = max_size or db.pool_max
    with errors.translated():
        pool = await asyncpg.create_pool(
            dsn=db.dsn,
            min_size=min(db.pool_min, size),
            max_size=size,
            command_timeout=db.command_timeout_s,
            connect=_connect,
            init=_init_connection,
            reset=_keep_session,
            server_settings={"application_name": "sensorium"},
        )
        durability = await pool.fetchrow(SQL["server_durability"])
    assert durability is not None  # one row, always
    fsync, synchronous_commit = durability["fsync"], durability["synchronous_commit"]
    unsafe = [
        f"{name} is {value}"
        for name, value, safe in (
            ("fsync", fsync, fsync == "on"),
            ("synchronous_commit", synchronous_commit, synchronous_commit not in ("off", "local")),
        )
        if not safe
    ]
    if unsafe and not db.throwaway:
        await close(pool, timeout=db.command_timeout_s)
        raise errors.UnsafeDatabase(
            f"{' and '.join(unsafe)} on {db.display}: a crash could lose readings that were "
            "acknowledged. Turn it on, or set DATABASE_THROWAWAY=true for an instance whose "
            "data may be lost."
        )
    if unsafe:
        logger.warning(
            "%s on %s: running anyway, as DATABASE_THROWAWAY says this instance's data may be lost",
            " and ".join(unsafe),
            db.display,
            extra={"action": "db_not_durable"},
        )
    return pool


async def connect(db: DatabaseSettings) -> Connection:
    """One connection outside any pool (for LISTEN), raising StorageUnavailable if unreachable."""
    with errors.translated():
        return await asyncpg.connect(dsn=db.dsn, command_timeout=db.command_timeout_s)


async def close(pool: Pool, *, timeout: float) -> None:  # noqa: ASYNC109 (a bound, not a cancel)
    """Close `pool`, waiting up to `timeout` seconds for connections in use, then terminating."""
    try:
        await asyncio.wait_for(pool.close(), timeout)
    except TimeoutError:
        logger.warning("pool did not close within %.0fs: terminating", timeout)
        pool.terminate()
