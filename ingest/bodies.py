"""The gateway's request bodies: plain or gzip, never larger than the limit once decompressed.

aiohttp stops reading past `client_max_size` (413); core/bodies.py decodes the gzip data as
sent, up to the same limit.
"""

from __future__ import annotations

from aiohttp import web

from core import bodies, errors

SERVED = ("gzip",)  # a readings post comes plain or gzip, as the OpenAPI document says


async def read(request: web.Request, limit: int) -> bytes:
    """The decompressed body; raises PayloadTooLarge, UnsupportedMediaType or BadRequest."""
    try:
        return await bodies.read(request, limit, SERVED)
    except bodies.Unreadable as exc:
        code = "invalid_gzip" if exc.encoding else "invalid_body"
        raise errors.BadRequest(str(exc), code=code) from None
