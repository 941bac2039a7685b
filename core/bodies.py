"""Request bodies in their `Content-Encoding`, decoded here and never past a limit.

Both services run without aiohttp's own decoding (`handler_args={"auto_decompress": False}`
on each application). aiohttp's decoder answers an encoding it has no library for (`br`,
`zstd`) with a plain-text 400 before any handler runs, and drops the connection after a body
that is not what it says. Here, a body arrives as sent; an encoding a service does not serve is
a 415 in the error model, a body not in its encoding a 400 on a connection that stays open, and
the decompressed output stops as soon as it passes the limit, so a small gzip bomb never grows
into memory. aiohttp itself stops reading past `client_max_size` (413).
"""

from __future__ import annotations

import zlib
from collections.abc import Collection

from aiohttp import web

from core import errors
from core import web as core_web

_PLAIN = frozenset({"", "identity"})
_NAMES = {"gzip": "gzip", "x-gzip": "gzip", "deflate": "deflate"}


class Unreadable(ValueError):
    """The body is not in the encoding it says, or could not be read at all (`encoding` is
    then ""); each service answers it in its own words, with a 400."""

    def __init__(self, message: str, encoding: str) -> None:
        super().__init__(message)
        self.encoding = encoding


def encoding(request: web.Request, served: Collection[str]) -> str:
    """The body's encoding: "" (plain) or one of `served` ("gzip", "deflate"); raises
    UnsupportedMediaType for the others."""
    raw = request.headers.get("Content-Encoding", "").strip().lower()
    if raw in _PLAIN:
        return ""
    name = _NAMES.get(raw)
    if name is None or name not in served:
        *others, last = ["plain", *sorted(served)]
        listed = f"{', '.join(others)} or {last}"
        raise errors.UnsupportedMediaType(
            f"Content-Encoding {raw[:40]!r} is not supported; send the body {listed}"
        )
    return name


async def read(request: web.Request, limit: int, served: Collection[str]) -> bytes:
    """The decoded body, at most `limit` bytes of it.

    Raises UnsupportedMediaType, PayloadTooLarge or Unreadable.
    """
    name = encoding(request, served)
    try:
        body = await request.read()
    except web.RequestPayloadError as exc:  # aiohttp's reader of the body failed
        raise Unreadable(core_web.unreadable_body(exc), "") from None
    return decompress(body, name, limit) if name else body


def decompress(data: bytes, name: str, limit: int) -> bytes:
    """`data` decoded from `name` ("gzip": one or more members; "deflate": zlib's format, or
    raw deflate as some clients send it), at most `limit` bytes of it.

    Raises PayloadTooLarge as soon as the output would pass `limit`, Unreadable if the data
    is not complete in its encoding.
    """
    if name == "gzip":
        wbits = 16 + zlib.MAX_WBITS
    else:  # a zlib stream starts with its method, 8; anything else is taken as raw deflate
        wbits = zlib.MAX_WBITS if data[:1] and data[0] & 0x0F == 8 else -zlib.MAX_WBITS
    out = bytearray()
    while data:
        decompressor = zlib.decompressobj(wbits=wbits)
        try:
            out += decompressor.decompress(data, limit + 1 - len(out))
        except zlib.error as exc:
            raise Unreadable(f"The body is not valid {name}: {exc}", name) from None
        if len(out) > limit:
            raise errors.PayloadTooLarge(
                f"The decompressed body is larger than the limit of {limit} bytes"
            )
        if not decompressor.eof:
            raise Unreadable(f"The {name} body is truncated", name)
        data = decompressor.unused_data
        if name != "gzip" and data:
            raise Unreadable(f"The {name} body has data after its end", name)
    return bytes(out)
