"""The server the tests run on is durable and has TimescaleDB; its edition is detected; the
services refuse a server that could lose what it acknowledged."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from scripts import launcher
from storage import errors, pool, server
from storage.config import DatabaseSettings

ROOT = Path(__file__).resolve().parents[2]


async def test_facts_report_durability_and_the_timescaledb_edition(db_pool):
    async with db_pool.acquire() as conn:
        facts = await server.facts(conn)
    assert facts.fsync and facts.synchronous_commit
    assert facts.timescaledb_version is not None
    assert facts.license in {"apache", "timescale"}
    assert "TimescaleDB" in facts.describe()


@pytest.fixture
def undurable_dsn(database_dsn):
    """A database whose sessions commit with synchronous_commit off."""
    name = database_dsn.rsplit("/", 1)[1]
    with psycopg.connect(database_dsn, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    return database_dsn


async def test_a_pool_refuses_a_server_that_could_lose_commits(undurable_dsn):
    settings = DatabaseSettings(dsn=undurable_dsn, embedded=False, pool_min=1, pool_max=2)
    with pytest.raises(
        errors.UnsafeDatabase, match=r"synchronous_commit is off.*DATABASE_THROWAWAY"
    ):
        await pool.open(settings)


async def test_a_throwaway_instance_may_run_without_durability(undurable_dsn, caplog):
    settings = DatabaseSettings(
        dsn=undurable_dsn, embedded=False, pool_min=1, pool_max=2, throwaway=True
    )
    opened = await pool.open(settings)
    try:
        assert await opened.fetchval("SHOW synchronous_commit") == "off"
    finally:
        await pool.close(opened, timeout=5)
    assert any(r.getMessage().startswith("synchronous_commit is off") for r in caplog.records)


@pytest.mark.parametrize("service", ["ingest", "workers", "query"])
def test_services_refuse_to_start_on_a_server_that_could_lose_commits(undurable_dsn, service):
    env = {
        **os.environ,
        "DATABASE_URL": undurable_dsn,
        "INGEST_PORT": str(launcher.free_port()),
        "QUERY_PORT": str(launcher.free_port()),
        "RATE_LIMIT_ENABLED": "false",
    }
    done = subprocess.run(
        [sys.executable, "-m", service],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "DATABASE_THROWAWAY" in done.stderr
