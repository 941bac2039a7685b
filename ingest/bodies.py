"""Request bodies: plain or gzip, never larger than the limit once decompressed.

aiohttp stops reading past `client_max_size` (413). The gateway runs without aiohttp's own
decompression (`auto_decompress=False`, ingest/__main__.py): the body holds gzip data as sent,
and `gunzip` decompresses it here, stopping as soon as the output passes the limit, so a small
gzip bomb never grows into memory. A server that does let aiohttp decompress (in bounded
steps) is served too.
"""

from __future__ import annotations

import zlib

from aiohttp import web

from core import errors
from core import web as core_web

_GZIP = frozenset({"gzip", "x-gzip"})
_PLAIN = frozenset({"", "identity"})


def content_encoding(request: web.Request) -> str:
    """The body's encoding, "" (plain) or "gzip"; raises UnsupportedMediaType for the others."""
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding in _PLAIN:
        return ""
    if encoding in _GZIP:
        return "gzip"
    raise errors.UnsupportedMediaType(
        f"Content-Encoding {encoding[:40]!r} is not supported; send the body plain or gzip"
    )


async def read(request: web.Request, limit: int) -> bytes:
    """The decompressed body; raises PayloadTooLarge, UnsupportedMediaType or BadRequest."""
    encoding = content_encoding(request)
    try:
        body = await request.read()
    except web.RequestPayloadError as exc:  # aiohttp could not decompress or read it
        if encoding:
            raise errors.BadRequest("The body is not valid gzip.", code="invalid_gzip") from None
        raise errors.BadRequest(core_web.unreadable_body(exc), code="invalid_body") from None
    if encoding and request.content.total_compressed_bytes is None:  # aiohttp left it to us
        return gunzip(body, limit)
    return body


def gunzip(data: bytes, limit: int) -> bytes:
    """The decompressed gzip `data` (one or more members), at most `limit` bytes of it.

    Raises PayloadTooLarge as soon as the output would pass `limit`, BadRequest if the data
    is not complete gzip.
    """
    out = bytearray()
    while data:
        decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            out += decompressor.decompress(data, limit + 1 - len(out))
        except zlib.error as exc:
            raise errors.BadRequest(
                f"The body is not valid gzip: {exc}", code="invalid_gzip"
            ) from None
        if len(out) > limit:
            raise errors.PayloadTooLarge(
                f"The decompressed body is larger than the limit of {limit} bytes"
            )
        if not decompressor.eof:
            raise errors.BadRequest("The gzip body is truncated", code="invalid_gzip")
        data = decompressor.unused_data
    return bytes(out)
