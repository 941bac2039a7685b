"""Typed keys of the query application's state, and the way handlers reach its database."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from types import TracebackType

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


def unavailable() -> _Unavailable:
    """Within the block, the database out of reach (StorageUnavailable) is a 503."""
    return _UNAVAILABLE


class _Unavailable:
    """`unavailable()`'s context manager: it keeps no state, so one serves every block (a
    generator-based one costs about a microsecond a request, on the device document's path)."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if isinstance(exc, storage_errors.StorageUnavailable):
            raise errors.ServiceUnavailable("The database is unavailable; retry later.") from exc


_UNAVAILABLE = _Unavailable()
