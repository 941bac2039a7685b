"""Typed keys of the query application's state, and the way handlers reach its database."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

from aiohttp import web

from core import errors
from query.config import QuerySettings
from query.document_cache import DocumentCache
from storage import errors as storage_errors
from storage import pool

settings = web.AppKey("settings", QuerySettings)
db_pool = web.AppKey("db_pool", pool.Pool)
documents = web.AppKey("documents", DocumentCache)


@contextlib.asynccontextmanager
async def connection(request: web.Request) -> AsyncIterator[pool.Connection]:
    """A pooled connection for the block; the database out of reach, as it is acquired or
    within the block, is a 503 in the error model."""
    with unavailable():
        async with request.app[db_pool].acquire() as conn:
            yield conn


@contextlib.contextmanager
def unavailable() -> Iterator[None]:
    """Within the block, the database out of reach (StorageUnavailable) is a 503."""
    try:
        yield
    except storage_errors.StorageUnavailable as exc:
        raise errors.ServiceUnavailable("The database is unavailable; retry later.") from exc
