"""The query service's application factory."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Callable, Iterable

from aiohttp import web

from core import throttling
from core import web as core_web
from query import (
    accounts,
    conventions,
    document_cache,
    forms,
    handlers,
    history,
    listings,
    registry,
    state,
    users,
    worldmap,
)
from query.config import QuerySettings
from storage import devices, notifications, pool

logger = logging.getLogger(__name__)

V0 = "/v0"


def create_app(
    settings: QuerySettings, *, on_fatal: Callable[[], None] | None = None
) -> web.Application:
    """The query application: routes, conventions, rate limits per client, and a pool and
    world-map snapshot at start.

    `on_fatal` runs if a background task dies (default: SIGTERM, a graceful stop).
    """
    throttle = throttling.Throttle(settings.rate_limits, throttling.per_client)
    documents = document_cache.DocumentCache(
        ttl_s=settings.document_cache_ttl_s, max_entries=settings.document_cache_entries
    )
    app = web.Application(
        middlewares=[
            core_web.error_middleware,
            throttling.middleware(throttle),
            conventions.middleware,
            document_cache.middleware(documents),
        ],
        client_max_size=forms.MAX_BODY_BYTES,
        # Bodies arrive as sent and query/forms.py decodes them (core/bodies.py). Set on the
        # application, it holds wherever it is served: `python -m query` and the tests.
        handler_args={"auto_decompress": False},
    )
    throttling.install(app, throttle)
    core_web.install(app, settings.rate_limits.trusted_proxies)
    app[state.settings] = settings
    app[state.documents] = documents
    app[worldmap.fatal_key] = on_fatal or worldmap.terminate
    app.cleanup_ctx.append(_db_pool)
    app.cleanup_ctx.append(accounts.outbox_ctx)
    app.cleanup_ctx.append(worldmap.snapshot_ctx)
    app.cleanup_ctx.append(_follow_documents)
    # Order matters: literal paths (`/v0/devices/world_map`) before `/v0/devices/{device_id}`.
    tables = (
        worldmap.routes,
        listings.routes,
        history.routes,
        registry.routes,
        users.routes,
        accounts.routes,
        handlers.routes,
    )
    for table in tables:
        app.add_routes(with_unversioned_aliases(table))
    return app


def with_unversioned_aliases(table: Iterable[web.AbstractRouteDef]) -> list[web.AbstractRouteDef]:
    """Each `/v0/...` route, and the same route without the prefix: unversioned paths serve v0."""
    routes: list[web.AbstractRouteDef] = []
    for route in table:
        routes.append(route)
        if isinstance(route, web.RouteDef) and route.path.startswith(V0 + "/"):
            routes.append(
                web.RouteDef(route.method, route.path[len(V0) :], route.handler, route.kwargs)
            )
    return routes


async def _db_pool(app: web.Application) -> AsyncIterator[None]:
    settings = app[state.settings]
    app[state.db_pool] = await pool.open(settings.db)
    logger.info("query service connected to %s", settings.db.display, extra={"action": "db_open"})
    yield
    await pool.close(app[state.db_pool], timeout=settings.shutdown_timeout_s)


async def _follow_documents(app: web.Application) -> AsyncIterator[None]:
    """Follow the changes to device documents while the service runs (none kept without)."""
    settings = app[state.settings]
    if not app[state.documents].enabled:
        yield
        return
    follower = notifications.follow(
        settings.db,
        devices.CHANNEL,
        app[state.documents],
        what="documents",
        heartbeat_s=document_cache.HEARTBEAT_S,
        timeout_s=document_cache.HEARTBEAT_S,
    )
    task = asyncio.create_task(follower, name="documents-listener")
    task.add_done_callback(functools.partial(worldmap.check_task, app))
    yield
    task.cancel()
    await asyncio.wait([task])
