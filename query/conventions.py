"""Placeholder: being written."""

from __future__ import annotations

from aiohttp import web

from core.web import Handler


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    return await handler(request)
