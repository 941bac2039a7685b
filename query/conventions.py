"""Conventions of every query endpoint: API version by `Accept`, `pretty=true`, JSON-P.

- `Accept: application/vnd.smartcitizen; version=0` selects v0, as the `/v0` prefix does and
  unversioned paths do; any other version is a 406 in the error model.
- `pretty=true` indents a JSON answer (errors included).
- `callback=<identifier>` wraps an anonymous GET's JSON answer in `/**/callback(...);` as
  `application/javascript`. It is refused for requests that carry credentials in any form
  (Authorization, the `key` header, `access_token`: a script tag on another site must never
  read what a user may see) and for anything but a plain identifier.
"""

from __future__ import annotations

import gzip
import re

import orjson
from aiohttp import web
from yarl import URL

from core import credentials, errors
from core import web as core_web
from core.web import Handler

VERSION = "0"
VENDOR_TYPE = "application/vnd.smartcitizen"
_CALLBACK = re.compile(r"[A-Za-z_$][A-Za-z0-9_$.]{0,63}")
_TRUE, _FALSE = ("true", "1"), ("false", "0", "")
# U+2028 and U+2029 are valid in JSON strings but end a line in older JavaScript.
_JS_LINE_ENDS = ((b"\xe2\x80\xa8", b"\\u2028"), (b"\xe2\x80\xa9", b"\\u2029"))


class NotAcceptable(errors.ApiError):
    """The requested API version is not served here."""

    status = 406
    sc_id = "not_acceptable"
    type = "invalid_request_error"


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Check the version asked for, `pretty` and `callback`; then reshape the JSON answer."""
    if request.query_string:
        pretty, callback = _pretty(request), _callback(request)
    else:
        pretty, callback = False, None
    _check_version(request)
    try:
        response = await handler(request)
    except errors.ApiError as exc:
        if not pretty:
            raise
        response = core_web.error_response(exc, request[core_web.request_id_key])
        callback = None  # a script tag runs nothing from an error status: answer plain JSON
    if pretty or callback:
        _reshape(response, pretty, callback)
    return response


def base_url(request: web.Request) -> URL:
    """The public origin of the request (the scheme from `X-Forwarded-Proto` when a trusted
    proxy, such as the project's nginx, sends it)."""
    scheme = core_web.forwarded_scheme(request)
    url = request.url.origin()
    return url.with_scheme(scheme) if scheme is not None else url


def public_url(request: web.Request) -> URL:
    """The request's URL as the client sent it (for `Link` headers)."""
    return base_url(request).join(request.rel_url)


def _pretty(request: web.Request) -> bool:
    value = request.query.get("pretty", "").lower()
    if value not in _TRUE and value not in _FALSE:
        raise _bad("pretty", "pretty must be true or false")
    return value in _TRUE


def _callback(request: web.Request) -> str | None:
    if "callback" not in request.query:
        return None
    name = request.query["callback"]
    if _CALLBACK.fullmatch(name) is None:
        raise _bad("callback", "callback must be a plain JavaScript identifier")
    if request.method not in ("GET", "HEAD"):
        raise _bad("callback", "JSON-P is only for GET requests")
    if credentials.carries_credentials(request.headers, request.query):
        raise _bad("callback", "JSON-P is only for anonymous requests: drop the credentials")
    return name


def _check_version(request: web.Request) -> None:
    if "Accept" not in request.headers:
        return
    for media_range in request.headers.getall("Accept"):
        for entry in media_range.split(","):
            media_type, *params = (part.strip() for part in entry.split(";"))
            if media_type.lower() != VENDOR_TYPE:
                continue
            for param in params:
                key, _, value = param.partition("=")
                version = value.strip().strip('"')
                if key.strip().lower() == "version" and version != VERSION:
                    raise NotAcceptable(
                        f"API version {version[:20]!r} is not served here; "
                        f"ask for {VENDOR_TYPE}; version={VERSION}",
                        code="unsupported_version",
                    )


def _reshape(response: web.StreamResponse, pretty: bool, callback: str | None) -> None:
    """Indent or wrap a JSON body in place; other bodies (streams, CSV, 304s) pass untouched."""
    if not isinstance(response, web.Response) or response.content_type != "application/json":
        return
    body = response.body
    if not isinstance(body, bytes) or not body:
        return
    if response.headers.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
        del response.headers["Content-Encoding"]
    if pretty:
        body = orjson.dumps(orjson.loads(body), option=orjson.OPT_INDENT_2)
    # The body is no longer the representation the validators describe.
    response.headers.popall("ETag", None)
    if callback is None or response.status >= 300:
        response.body = body
        return
    for raw, escaped in _JS_LINE_ENDS:
        body = body.replace(raw, escaped)
    response.body = b"/**/" + callback.encode() + b"(" + body + b");"
    response.content_type = "application/javascript"


def _bad(name: str, message: str) -> errors.BadRequest:
    return errors.BadRequest(message, code="invalid_parameter", fields={name: [message]})
