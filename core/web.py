"""HTTP conventions shared by the services: request ids, the error middleware, JSON responses."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from core import errors

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

request_id_key = web.RequestKey("request_id", str)
# An inbound id is echoed only if it is this plain, so it cannot inject into headers or logs.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


def json_response(
    data: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON response encoded with orjson (UTC datetimes as ISO 8601 with `Z`)."""
    body = orjson.dumps(data, option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC)
    return web.Response(body=body, status=status, headers=headers, content_type="application/json")


def error_response(error: errors.ApiError, request_id: str) -> web.Response:
    """The error model's response for `error`."""
    return json_response(error.body(request_id), status=error.status, headers=error.headers)


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
    incoming = request.headers.get("X-Request-ID", "")
    request_id = incoming if _REQUEST_ID.fullmatch(incoming) else secrets.token_hex(16)
    request[request_id_key] = request_id
    try:
        response = await handler(request)
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
    response.headers["X-Request-ID"] = request_id
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
