"""Placeholder: being written."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()


async def snapshot_ctx(app: web.Application):  # type: ignore[no-untyped-def]
    yield
