"""Request bodies of the account endpoints: a JSON object, or a form (urlencoded or multipart)."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import http_exceptions, web
from multidict import MultiDict, MultiDictProxy

from core import bodies, errors
from core import web as core_web

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
MAX_BODY_BYTES = 1024 * 1024  # the application's client_max_size, and once decompressed
Form = MultiDictProxy[str | bytes | bytearray | web.FileField]
SERVED = ("gzip", "deflate")  # Content-Encodings of a body (query/app.py: aiohttp leaves them)


async def body(request: web.Request) -> dict[str, Any]:
    """The request's parameters from its body: a form's fields (first value of each, files
    left out) or a JSON object; `{}` for no body. Raises BadRequest for anything else."""
    if request.content_type in FORM_TYPES:
        form = await read_form(request)
        found: dict[str, Any] = {}
        for key, value in form.items():
            if isinstance(value, str):
                found.setdefault(key, value)
        return storable(found)
    raw = await raw_body(request)
    if not raw.strip():
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad("body", "The body is neither a JSON object nor a form") from None
    if not isinstance(data, dict):
        raise bad("body", "The body must be a JSON object")
    return storable(data)


async def raw_body(request: web.Request) -> bytes:
    """The request's body, decoded from its `Content-Encoding` (gzip or deflate); BadRequest if
    it is not in that encoding, UnsupportedMediaType for another encoding."""
    try:
        return await bodies.read(request, MAX_BODY_BYTES, SERVED)
    except bodies.Unreadable as exc:
        raise bad("body", str(exc), "invalid_body") from None


async def read_form(request: web.Request) -> Form:
    """The request's form; BadRequest if it cannot be read (a multipart body without its
    boundary, or with names or values that are not UTF-8, or a charset not known)."""
    form: Form
    if bodies.encoding(request, SERVED):
        form = await _decoded_form(request)
    else:
        try:
            form = await request.post()
        # A part without its boundary or with a name not UTF-8 (ValueError, UnicodeDecodeError),
        # part headers that are not HTTP (InvalidHeader, BadHttpMessage), or a charset Python
        # does not know (LookupError).
        except (ValueError, LookupError, http_exceptions.HttpProcessingError) as exc:
            raise _unreadable_form(exc) from None
        except web.RequestPayloadError as exc:
            raise bad("body", core_web.unreadable_body(exc), "invalid_body") from None
    for key, value in form.items():
        # aiohttp keeps undecodable bytes of a multipart name or value as lone surrogates.
        if not _utf8(key) or (isinstance(value, str) and not _utf8(value)):
            raise bad("body", "The form's names and values must be UTF-8", "invalid_form")
    return form


async def _decoded_form(request: web.Request) -> Form:
    """An urlencoded form sent compressed, read as aiohttp reads a plain one. aiohttp parses
    a multipart form from the connection as it comes, so that one must come plain."""
    if request.content_type != "application/x-www-form-urlencoded":
        raise errors.UnsupportedMediaType(
            "A multipart form cannot have a Content-Encoding; send it plain"
        )
    raw = await raw_body(request)
    charset = request.charset or "utf-8"
    try:
        fields = urllib.parse.parse_qsl(
            raw.rstrip().decode(charset), keep_blank_values=True, encoding=charset
        )
    except (ValueError, LookupError) as exc:
        raise _unreadable_form(exc) from None
    return MultiDictProxy(MultiDict[str | bytes | bytearray | web.FileField](fields))


def _unreadable_form(exc: Exception) -> errors.BadRequest:
    return bad("body", f"The form cannot be read: {str(exc)[:200]}", "invalid_form")


def storable(fields: dict[str, Any]) -> dict[str, Any]:
    """`fields`, once no text in them holds a NUL character (PostgreSQL text cannot store one);
    BadRequest naming the field otherwise."""
    for name, value in fields.items():
        texts = value if isinstance(value, list) else [value]
        if "\x00" in name or any(isinstance(t, str) and "\x00" in t for t in texts):
            shown = name.replace("\x00", "\\0")[:100]
            raise bad(shown, f"{shown} must not contain NUL characters")
    return fields


def _utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


async def parameters(request: web.Request) -> dict[str, Any]:
    """The URL's query parameters overlaid by the body's (for parameters that carry no secret);
    BadRequest, as for a body, if a name or value holds a NUL character."""
    return {**storable(_first(request.query)), **await body(request)}


def text(params: Mapping[str, Any], name: str) -> str | None:
    """Parameter `name` as stripped text, None if absent or blank; BadRequest if not text."""
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad(name, f"{name} must be a string")
    return value.strip() or None


def bad(name: str, message: str, code: str = "invalid_request") -> errors.BadRequest:
    """A 400 naming the parameter."""
    return errors.BadRequest(message, code=code, fields={name: [message]})


def _first(query: Mapping[str, str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in query.items():
        found.setdefault(key, value)
    return found
