"""The services' pools: a connection goes back to the pool without a reset round trip."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from scripts import launcher
from storage import errors
from storage import pool as storage_pool


async def test_a_released_connection_is_not_reset(db_settings):
    pool = await storage_pool.open(db_settings, max_size=1)
    try:
        async with pool.acquire() as conn:
            pid = await conn.fetchval("SELECT pg_backend_pid()")
            await conn.fetchval("SELECT 'the last statement'")
        watcher = await storage_pool.connect(db_settings)
        try:
            last = await watcher.fetchval("SELECT query FROM pg_stat_activity WHERE pid = $1", pid)
        finally:
            await watcher.close()
        assert last == "SELECT 'the last statement'"  # not asyncpg's RESET ALL and the rest
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT pg_backend_pid()") == pid
            assert not conn.is_in_transaction()
    finally:
        await storage_pool.close(pool, timeout=10)


async def test_a_transaction_that_failed_is_rolled_back_before_reuse(db_settings):
    pool = await storage_pool.open(db_settings, max_size=1)
    try:
        async with pool.acquire() as conn:
            try:
                async with conn.transaction():
                    await conn.execute("CREATE TEMP TABLE scratch (n integer)")
                    await conn.execute("SELECT 1 / 0")
            except Exception as exc:
                assert "division by zero" in str(exc)
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT to_regclass('pg_temp.scratch')") is None
            assert await conn.fetchval("SELECT 1") == 1
    finally:
        await storage_pool.close(pool, timeout=10)


async def test_a_connection_the_pool_cannot_open_is_storage_unavailable(db_settings):
    pool = await storage_pool.open(db_settings, max_size=1)
    try:
        closed = launcher.free_port()  # a port nothing listens on
        parts = urlsplit(db_settings.dsn)
        pool.set_connect_args(
            parts._replace(netloc=f"{parts.username}@127.0.0.1:{closed}").geturl()
        )
        await pool.expire_connections()  # as when the server restarts: the next acquire connects
        with pytest.raises(errors.StorageUnavailable):
            async with pool.acquire():
                pass
    finally:
        await storage_pool.close(pool, timeout=10)
