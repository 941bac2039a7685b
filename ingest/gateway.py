"""The gateway's parts, built once per app and shared by every request under one AppKey."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web

from ingest import backpressure, config, database, registry, staging
from storage import batches


@dataclass(frozen=True, slots=True)
class Gateway:
    """Settings, the pool, cached look-ups, the group-commit stager, and the backlog and event
    loop monitors."""

    settings: config.IngestSettings
    database: database.Database
    registry: registry.Registry
    stager: staging.Stager
    monitor: backpressure.BacklogMonitor
    lag: backpressure.LoopLag


key = web.AppKey("gateway", Gateway)
LOOP_LAG_INTERVAL_S = 0.05  # how often the event loop's lag is measured
LOOP_LAG_SUSTAINED = 3  # late timers in a row that mean short of CPU, not one long stall


def build(settings: config.IngestSettings) -> Gateway:
    """The parts of a gateway for `settings`, with nothing opened or started yet."""
    db = database.Database(settings.db, timeout_s=settings.db_timeout_s)

    async def write(submissions: Sequence[staging.Submission]) -> None:
        async with db.connection() as conn:
            await batches.stage(conn, submissions)

    return Gateway(
        settings=settings,
        database=db,
        registry=registry.Registry(
            db,
            ttl_s=settings.cache_ttl_s,
            unwatched_ttl_s=settings.cache_unwatched_ttl_s,
            max_entries=settings.cache_max_entries,
        ),
        stager=staging.Stager(
            write,
            wait_s=settings.commit_wait_ms / 1000,
            max_readings=settings.commit_max_readings,
            concurrency=settings.commit_concurrency,
            max_pending=settings.max_pending_readings,
        ),
        monitor=backpressure.BacklogMonitor(
            db,
            max_readings=settings.max_backlog_readings,
            interval_s=settings.backlog_poll_ms / 1000,
        ),
        lag=backpressure.LoopLag(
            max_lag_s=settings.max_loop_lag_ms / 1000,
            interval_s=LOOP_LAG_INTERVAL_S,
            sustained=LOOP_LAG_SUSTAINED,
        ),
    )
