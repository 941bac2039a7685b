"""The query service's application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from core import web as core_web
from query import handlers, state
from query.config import QuerySettings
from storage import pool

logger = logging.getLogger(__name__)


def create_app(settings: QuerySettings) -> web.Application:
    """The query application: routes, error model, and a database pool opened at start."""
    app = web.Application(middlewares=[core_web.error_middleware])
    app[state.settings] = settings
    app.cleanup_ctx.append(_db_pool)
    app.add_routes(handlers.routes)
    return app


async def _db_pool(app: web.Application) -> AsyncIterator[None]:
    settings = app[state.settings]
    app[state.db_pool] = await pool.open(settings.db)
    logger.info("query service connected to %s", settings.db.display, extra={"action": "db_open"})
    yield
    await pool.close(app[state.db_pool], timeout=settings.shutdown_timeout_s)
