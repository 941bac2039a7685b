"""Fixtures: the real TimescaleDB (embedded unless DATABASE_URL/PG* say otherwise), a migrated
template database made once per session, and a fresh clone of it for every test that asks."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from core import settings as core_settings
from storage import config as storage_config
from storage import embedded, migrate
from storage import pool as storage_pool

# One template per test session, so two sessions on one server never drop each other's.
TEMPLATE = f"sensorium_test_template_{os.getpid()}"


def with_database(dsn: str, name: str) -> str:
    """`dsn` (a postgresql:// URL, as asyncpg needs) pointed at the database `name`."""
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("SENSORIUM_TEST_UVLOOP"):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


@pytest.fixture(scope="session")
def server_dsn() -> str:
    """The address of the server's maintenance database; starts the embedded cluster if needed."""
    db = storage_config.DatabaseSettings.from_env(core_settings.environ())
    if db.embedded:
        try:
            embedded.Cluster().ensure_running()
        except embedded.EmbeddedError as exc:
            pytest.fail(f"cannot start the embedded TimescaleDB: {exc}", pytrace=False)
        return embedded.Cluster().dsn("postgres")
    return with_database(db.dsn or "postgresql://", "postgres")


@pytest.fixture(scope="session")
def template_database(server_dsn: str) -> Iterator[str]:
    """A database with every migration applied, cloned by each test; dropped at the end."""
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(TEMPLATE))
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(drop)
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE)))
    migrate.apply(with_database(server_dsn, TEMPLATE))
    yield TEMPLATE
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(drop)


@pytest.fixture
def make_database(server_dsn: str, template_database: str) -> Iterator[Callable[[], str]]:
    """A factory of fresh migrated databases, each dropped after the test; returns their DSNs."""
    created: list[str] = []

    def make() -> str:
        name = f"sensorium_test_{secrets.token_hex(6)}"
        with psycopg.connect(server_dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template_database)
                )
            )
        created.append(name)
        return with_database(server_dsn, name)

    yield make
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        for name in created:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def database_dsn(make_database: Callable[[], str]) -> str:
    """A fresh migrated database for this test."""
    return make_database()


@pytest.fixture
def db_settings(database_dsn: str) -> storage_config.DatabaseSettings:
    """Settings pointing the services at this test's database."""
    return storage_config.DatabaseSettings(dsn=database_dsn, embedded=False, pool_min=1, pool_max=5)


@pytest.fixture
async def db_pool(db_settings: storage_config.DatabaseSettings) -> AsyncIterator[storage_pool.Pool]:
    """An asyncpg pool on this test's database."""
    pool = await storage_pool.open(db_settings)
    yield pool
    await storage_pool.close(pool, timeout=10)


@pytest.fixture(autouse=True)
async def _fail_on_loop_errors() -> AsyncIterator[None]:
    """A test fails if its event loop's exception handler saw anything (a lost task's error)."""
    loop = asyncio.get_running_loop()
    seen: list[dict[str, object]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    yield
    loop.set_exception_handler(previous)
    assert not seen, f"the event loop reported errors: {seen}"
