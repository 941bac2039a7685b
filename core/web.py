"""HTTP conventions shared by the services: request ids, the error middleware, JSON responses,
and the headers every answer carries (`install`).

Every answer, errors and streamed exports included, carries `X-Request-ID` and
`X-Content-Type-Options: nosniff`, and allows any origin to read it
(`Access-Control-Allow-Origin: *`) but never with credentials: no answer carries
`Access-Control-Allow-Credentials`, so a browser never sends cookies or cached HTTP Basic
credentials on another site's behalf, and a script elsewhere reads only what its own token (sent in
`Authorization`, which preflights allow) may see. A preflight (`OPTIONS` with
`Access-Control-Request-Method`) is answered 204 by the error middleware, before rate limits,
with the methods the path serves. An answer over TLS (to the service itself, or to nginx when a
trusted proxy says `X-Forwarded-Proto: https`) carries `Strict-Transport-Security`; one over plain
HTTP never does (browsers ignore it there, and it would pin a site that has no TLS).
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import os
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson
from aiohttp import http_exceptions, web

from core import errors

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

request_id_key = web.RequestKey("request_id", str)
# An inbound id is echoed only if it is this plain, so it cannot inject into headers or logs.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


class _RequestIds:
    """Unique request ids: 32 hex digits, a random prefix of this process and a counter.

    An id names a request in logs and answers; it guards nothing, so it need not be
    unpredictable, and counting costs far less than asking the kernel for random bytes on every
    request. A forked child takes a prefix of its own.
    """

    def __init__(self) -> None:
        self._restart()
        os.register_at_fork(after_in_child=self._restart)

    def _restart(self) -> None:
        self._prefix = secrets.token_hex(8)
        self._counter = itertools.count()

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter):016x}"


_request_ids = _RequestIds()

HSTS = "max-age=31536000; includeSubDomains"
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": ", ".join(
        [
            "X-Request-ID",
            "Link",
            "Total",
            "Per-Page",
            "ETag",
            "Last-Modified",
            "Retry-After",
            "Content-Disposition",
            "RateLimit-Limit",
            "RateLimit-Remaining",
            "RateLimit-Reset",
            "RateLimit-Policy",
        ]
    ),
}
PREFLIGHT_ALLOWED_HEADERS = ", ".join(
    [
        "Authorization",
        "Content-Type",
        "Content-Encoding",
        "Accept",
        "If-None-Match",
        "X-Request-ID",
        "key",
    ]
)
PREFLIGHT_MAX_AGE_S = 86400
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_trusted_key: web.AppKey[tuple[Network, ...]] = web.AppKey("trusted_proxies")


_JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


def json_response(
    data: Any,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    fractional_seconds: bool = False,
) -> web.Response:
    """A JSON response encoded with orjson: datetimes as ISO 8601, UTC ones with `Z`.

    The API's timestamps are to the second, so a datetime's fraction of a second is dropped
    (orjson drops it many times faster than a datetime is rebuilt without it), unless
    `fractional_seconds` keeps it (readings history, whose buckets may be milliseconds wide).
    """
    body = json_body(data, fractional_seconds=fractional_seconds)
    return web.Response(body=body, status=status, headers=headers, content_type="application/json")


def json_body(data: Any, *, fractional_seconds: bool = False) -> bytes:
    """`data` encoded as `json_response` encodes it."""
    option = _JSON_OPTIONS if fractional_seconds else _JSON_OPTIONS | orjson.OPT_OMIT_MICROSECONDS
    return orjson.dumps(data, option=option)


def error_response(error: errors.ApiError, request_id: str) -> web.Response:
    """The error model's response for `error`.

    An error repeats parts of the request (a field's name, a bad value); if one of them cannot
    be written as JSON (a lone surrogate, an integer past 64 bits), it is written mended
    rather than the answer failing.
    """
    body = error.body(request_id)
    try:
        return json_response(body, status=error.status, headers=error.headers)
    except TypeError:
        return json_response(_mended(body), status=error.status, headers=error.headers)


def _mended(value: Any) -> Any:
    """`value` with every string made valid UTF-8 and every integer past 64 bits a string."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode()
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**64 else str(value)
    if isinstance(value, dict):
        return {_mended(str(k)): _mended(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mended(v) for v in value]
    return _mended(str(value))


_HTTP_TO_API: dict[int, type[errors.ApiError]] = {
    400: errors.BadRequest,
    401: errors.Unauthorized,
    403: errors.Forbidden,
    404: errors.NotFound,
    405: errors.MethodNotAllowed,
    413: errors.PayloadTooLarge,
    415: errors.UnsupportedMediaType,
    422: errors.Unprocessable,
    429: errors.TooManyRequests,
    503: errors.ServiceUnavailable,
}


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give every response an `X-Request-ID` and turn every failure into the error model."""
    incoming = request.headers.get("X-Request-ID")
    request_id = incoming if incoming and _REQUEST_ID.fullmatch(incoming) else _request_ids.next()
    request[request_id_key] = request_id
    try:
        preflight = _preflight(request)
        response = preflight if preflight is not None else await handler(request)
    except errors.ApiError as exc:
        response = error_response(exc, request_id)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        error_class = _HTTP_TO_API.get(exc.status, errors.ApiError)
        message = (
            exc.reason if exc.status != 404 else f"No route for {request.method} {request.path}"
        )
        api_error = error_class(message)
        if exc.status == 413:
            api_error = errors.PayloadTooLarge(exc.text or "The request body is too large.")
        response = error_response(api_error, request_id)
        response.set_status(exc.status)
    except Exception:
        logger.exception(
            "unhandled error in %s %s",
            request.method,
            request.path,
            extra={"action": "unhandled_error", "request_id": request_id},
        )
        response = error_response(errors.InternalError(), request_id)
    # The rest of the module docstring's headers are added as the answer is prepared
    # (`install`), streamed answers included.
    response.headers["X-Request-ID"] = request_id
    if request.content.exception() is not None:
        # aiohttp's reader of the body failed (the body broke off): the connection cannot
        # carry another request. Say so, rather than leave aiohttp to drop it after the answer
        # (and log the body's error as a failure of its own). Since both services decode
        # bodies themselves (core/bodies.py) this is a backstop: aiohttp no longer fails a body
        # for its encoding, and no test reaches it.
        response.force_close()
    return response


def install(app: web.Application, trusted_proxies: Iterable[str]) -> None:
    """Give every answer of `app` the headers of the module docstring, streamed ones included.

    `trusted_proxies` (networks, as `TRUSTED_PROXIES` lists them) are believed when they say, in
    `X-Forwarded-Proto`, that the client came over TLS.
    """
    app[_trusted_key] = tuple(ipaddress.ip_network(network) for network in trusted_proxies)
    app.on_response_prepare.append(_add_headers)
    logging.getLogger("aiohttp.server").addFilter(_client_errors)  # once: the same filter


def unreadable_body(exc: web.RequestPayloadError) -> str:
    """Why aiohttp could not read a request's body, in its parser's words (without the
    `400, message:` its exception puts in front)."""
    reason = getattr(exc.__cause__, "message", None) or str(exc)
    return f"The body cannot be read: {' '.join(str(reason).split())}"


def _client_errors(record: logging.LogRecord) -> bool:
    """aiohttp's log of a client's mistake, as a mistake of the client's.

    aiohttp logs a traceback at ERROR for a request it cannot parse (answered 400 by itself)
    and, after the answer, for a body its reader failed on (a backstop since both services
    decode bodies themselves, as in `error_middleware`). Nothing failed here: the first becomes
    one WARNING line with the parser's words, and the second is dropped (the client had its 400
    from `error_middleware`, and the connection was closed as that answer said).
    """
    error = record.exc_info[1] if record.exc_info else None
    if isinstance(error, web.RequestPayloadError):
        return False
    if isinstance(error, http_exceptions.HttpProcessingError) and record.levelno >= logging.ERROR:
        reason = " ".join(str(error.message).split())[:200]
        record.msg, record.args = "%s; answered 400: %s", (record.getMessage(), reason)
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info, record.exc_text = None, None
    return True


async def _add_headers(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    if "X-Request-ID" not in headers:
        request_id = request.get(request_id_key)
        if request_id is not None:
            headers["X-Request-ID"] = request_id
    headers["X-Content-Type-Options"] = "nosniff"
    headers.update(CORS)
    if "Access-Control-Allow-Credentials" in headers:
        headers.popall("Access-Control-Allow-Credentials")
    if over_tls(request):
        headers["Strict-Transport-Security"] = HSTS


def over_tls(request: web.Request, trusted: tuple[Network, ...] | None = None) -> bool:
    """Whether the client reached us over TLS: directly, or as a trusted proxy (default: the
    app's) reports."""
    return request.secure or forwarded_scheme(request, trusted) == "https"


def forwarded_scheme(
    request: web.Request, trusted: tuple[Network, ...] | None = None
) -> str | None:
    """The scheme (`http` or `https`) a trusted proxy says the client used, in
    `X-Forwarded-Proto`; None when there is none or the peer is not one of `trusted` (default:
    the app's, as `install` set them)."""
    forwarded = request.headers.get("X-Forwarded-Proto")
    if not forwarded:
        return None
    proto = forwarded.split(",", 1)[0].strip().lower()
    if proto not in ("http", "https"):
        return None
    if trusted is None:
        trusted = request.app.get(_trusted_key, ())
    try:
        peer = ipaddress.ip_address(request.remote or "")
    except ValueError:
        return None
    return proto if any(peer in network for network in trusted) else None


def _preflight(request: web.Request) -> web.Response | None:
    """The 204 answer to a CORS preflight for a path that exists; None for anything else."""
    if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
        return None
    exception = request.match_info.http_exception
    if not isinstance(exception, web.HTTPMethodNotAllowed):
        return None  # a path we do not serve is a 404 as ever; one that serves OPTIONS, itself
    methods = sorted({*exception.allowed_methods, "OPTIONS"})
    return web.Response(
        status=204,
        headers={
            **CORS,
            "Access-Control-Allow-Methods": ", ".join(methods),
            "Access-Control-Allow-Headers": PREFLIGHT_ALLOWED_HEADERS,
            "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_S),
        },
    )
