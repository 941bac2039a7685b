"""Typed keys of the query application's state."""

from __future__ import annotations

from aiohttp import web

from query.config import QuerySettings
from query.document_cache import DocumentCache
from storage import pool

settings = web.AppKey("settings", QuerySettings)
db_pool = web.AppKey("db_pool", pool.Pool)
documents = web.AppKey("documents", DocumentCache)
