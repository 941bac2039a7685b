"""The whole platform as real processes (gateways, workers, query, nginx) on a test database."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from scripts import launcher
from storage import config, demo
from storage import pool as storage_pool

_DATABASE_VARIABLES = {"DATABASE_URL", "PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE"}


@pytest.fixture
async def fleet(db_settings: config.DatabaseSettings) -> demo.Demo:
    conn = await storage_pool.connect(db_settings)
    try:
        return await demo.seed(conn)
    finally:
        await conn.close()


@pytest.fixture
def start_platform(database_dsn: str, tmp_path) -> Iterator[Callable[..., launcher.Platform]]:
    """Start the platform on this test's database; it is stopped after the test."""
    started: list[launcher.Platform] = []

    def start(**layout: int) -> launcher.Platform:
        env = {k: v for k, v in os.environ.items() if k not in _DATABASE_VARIABLES}
        env["WORKERS_POLL_INTERVAL_S"] = env.get("WORKERS_POLL_INTERVAL_S", "1")
        ports = {
            "port": launcher.free_port(),
            "gateway_base_port": launcher.free_port(layout.get("gateways", 2)),
            "query_base_port": launcher.free_port(layout.get("queries", 1)),
        }
        chosen = launcher.Layout(**{**ports, **layout}, state_dir=tmp_path / "run")  # type: ignore[arg-type]
        platform = launcher.Platform(chosen, env, database_dsn)
        started.append(platform)
        platform.start()
        return platform

    yield start
    for platform in started:
        platform.stop()
