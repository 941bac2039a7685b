"""The gateway's aiohttp application: `create_app(settings)` and its start-up and shutdown order.

Every request passes the rate limits first (core/throttling.py): readings posts count against
their device's quota, everything against the per-IP ceiling; a post over its quota is a 429
with Retry-After before its body is read, so nothing of it was stored and the device retries.

Start: the pool (or, if the database is down, a task that keeps trying), then the listener for
changes to credentials (storage.notifications.follow), then the backlog monitor and the event loop's
lag, then the group-commit flusher. Shutdown runs the other way round once aiohttp has
finished the requests in flight: the flusher writes everything still queued, then the pool
closes, so nothing a device was told is stored is lost.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from aiohttp import web

from core import throttling
from core import web as core_web
from ingest import config, gateway, handlers, legacy, routes
from storage import credentials, notifications

logger = logging.getLogger(__name__)

fatal_key: web.AppKey[Callable[[], None]] = web.AppKey("fatal")


def create_app(
    settings: config.IngestSettings, *, on_fatal: Callable[[], None] | None = None
) -> web.Application:
    """The gateway application; `on_fatal` runs if a background task dies (default: SIGTERM)."""
    throttle = throttling.Throttle(settings.rate_limits, device_quota_key)
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[core_web.error_middleware, throttling.middleware(throttle)],
        # Bodies arrive as sent and ingest/bodies.py decodes them (core/bodies.py). Set on the
        # application, it holds wherever it is served: `python -m ingest` and the tests.
        handler_args={"auto_decompress": False},
    )
    throttling.install(app, throttle)
    core_web.install(app, settings.rate_limits.trusted_proxies)
    app[gateway.key] = gateway.build(settings)
    app[fatal_key] = on_fatal or _terminate
    app.cleanup_ctx.extend(
        [_open_database, _follow_credentials, _watch_backlog, _watch_loop, _run_stager]
    )
    routes.add_routes(app)
    return app


def device_quota_key(request: web.Request, client: throttling.Client) -> str | None:
    """The quota a request counts against: its device's for readings posts, none otherwise.

    A readings post counts under its device and its credential, so a stranger posting with
    made-up tokens cannot spend a device's quota; a legacy post under its MAC address (SCK 1.x
    presents nothing else). Every request also counts against the per-IP ceiling.
    """
    handler = request.match_info.handler
    if handler is handlers.post_readings:
        holder = client.credential or f"ip:{client.ip}"
        return f"device:{request.match_info['device_id']}:{holder}"
    if handler is handlers.legacy_add:
        try:
            return f"mac:{legacy.normalise_mac(request.headers.get(legacy.MAC_HEADER))}"
        except legacy.LegacyError:
            return None  # answered with the clock and nothing stored
    return None


async def _open_database(app: web.Application) -> AsyncIterator[None]:
    gw = app[gateway.key]
    connector = None
    if not await gw.database.open():
        logger.warning(
            "database %s unreachable (%s): answering 503 and retrying in the background",
            gw.settings.db.display,
            gw.database.last_error,
            extra={"action": "db_unreachable"},
        )
        connector = _start(app, gw.database.keep_opening(), "database-connector", may_end=True)
    yield
    await _stop(connector)
    await gw.database.close(gw.settings.shutdown_timeout_s)


async def _follow_credentials(app: web.Application) -> AsyncIterator[None]:
    gw = app[gateway.key]
    # A heartbeat and its timeout within the unwatched time to live: a dead connection is
    # noticed (and the caches emptied) before a change it missed could outlive that.
    heartbeat_s = max(gw.settings.cache_unwatched_ttl_s / 2, 0.05)
    follower = notifications.follow(
        gw.settings.db,
        credentials.CHANNEL,
        gw.registry,
        what="credentials",
        heartbeat_s=heartbeat_s,
        timeout_s=min(heartbeat_s, gw.settings.db_timeout_s),
    )
    task = _start(app, follower, "credentials-listener")
    yield
    await _stop(task)


async def _watch_backlog(app: web.Application) -> AsyncIterator[None]:
    monitor = app[gateway.key].monitor
    await monitor.poll()
    task = _start(app, monitor.run(), "backlog-monitor")
    yield
    await _stop(task)


async def _watch_loop(app: web.Application) -> AsyncIterator[None]:
    task = _start(app, app[gateway.key].lag.run(), "loop-lag")
    yield
    await _stop(task)


async def _run_stager(app: web.Application) -> AsyncIterator[None]:
    stager = app[gateway.key].stager
    task = _start(app, stager.run(), "stage-flusher")
    yield
    await _stop(task)
    await stager.drain()
    logger.info("staging drained", extra={"action": "staging_drained"})


def _start(
    app: web.Application, work: Coroutine[Any, Any, None], name: str, *, may_end: bool = False
) -> asyncio.Task[None]:
    """A named background task; if it fails (or ends, unless `may_end`), the process stops."""
    task = asyncio.create_task(work, name=name)

    def check(done: asyncio.Task[None]) -> None:
        if done.cancelled():
            return
        exc = done.exception()
        if exc is None and may_end:
            return
        logger.critical(
            "background task %s %s: stopping",
            name,
            "failed" if exc else "ended",
            exc_info=exc,
            extra={"action": "task_died", "task": name},
        )
        app[fatal_key]()

    task.add_done_callback(check)
    return task


async def _stop(task: asyncio.Task[None] | None) -> None:
    if task is not None and not task.done():
        task.cancel()
        await asyncio.wait([task])


def _terminate() -> None:
    # run_app turns SIGTERM into a graceful shutdown: requests finish, staging drains.
    signal.raise_signal(signal.SIGTERM)
