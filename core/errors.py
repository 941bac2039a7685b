"""The API error model shared by every HTTP service.

An error body carries both the SmartCitizen keys (`id`, `message`, `url`, `errors`) and the
structured keys (`object`, `code`, `type`, `message`, `fields`, `request_id`), so clients of either
convention read it unchanged. Services raise these; one middleware turns them into responses.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ApiError(Exception):
    """The request failed."""

    status: ClassVar[int] = 500
    sc_id: ClassVar[str] = "internal_server_error"
    type: ClassVar[str] = "api_error"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        fields: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message or self.__doc__)
        self.message = message or (self.__doc__ or "").strip()
        self.code = code or self.sc_id
        self.fields = fields
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self, request_id: str) -> dict[str, Any]:
        """The JSON body of this error, for the request `request_id`."""
        return {
            "id": self.sc_id,
            "message": self.message,
            "url": "",
            "errors": self.fields,
            "object": "error",
            "code": self.code,
            "type": self.type,
            "fields": (
                None
                if self.fields is None
                else [
                    {"name": name, "message": message}
                    for name, messages in self.fields.items()
                    for message in messages
                ]
            ),
            "request_id": request_id,
            **self.extra,
        }


class BadRequest(ApiError):
    """The request is malformed."""

    status = 400
    sc_id = "bad_request"
    type = "invalid_request_error"


class Unauthorized(ApiError):
    """Authorization required."""

    status = 401
    sc_id = "unauthorized"
    type = "authentication_error"

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="sensorium"'})
        super().__init__(message, **kwargs)


class Forbidden(ApiError):
    """You are not allowed to do this."""

    status = 403
    sc_id = "forbidden"
    type = "permission_error"


class NotFound(ApiError):
    """Not found."""

    status = 404
    sc_id = "record_not_found"
    type = "invalid_request_error"


class MethodNotAllowed(ApiError):
    """Method not allowed."""

    status = 405
    sc_id = "method_not_allowed"
    type = "invalid_request_error"


class PayloadTooLarge(ApiError):
    """The request body is too large."""

    status = 413
    sc_id = "payload_too_large"
    type = "invalid_request_error"


class UnsupportedMediaType(ApiError):
    """Unsupported request body encoding."""

    status = 415
    sc_id = "unsupported_media_type"
    type = "invalid_request_error"


class Unprocessable(ApiError):
    """The request could not be processed."""

    status = 422
    sc_id = "unprocessable_entity"
    type = "invalid_request_error"


class TooManyRequests(ApiError):
    """Too many requests; retry later."""

    status = 429
    sc_id = "too_many_requests"
    type = "rate_limit_error"


class ServiceUnavailable(ApiError):
    """The service is busy or its database is unavailable; retry later."""

    status = 503
    sc_id = "service_unavailable"
    type = "api_error"

    def __init__(
        self, message: str | None = None, *, retry_after_s: int = 1, **kwargs: Any
    ) -> None:
        kwargs.setdefault("headers", {"Retry-After": str(retry_after_s)})
        super().__init__(message, **kwargs)


class InternalError(ApiError):
    """Something went wrong on our side; it has been logged."""
