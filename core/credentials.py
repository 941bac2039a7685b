"""Reading the credential a request presents.

Tokens and API keys: `Authorization: Bearer <t>`, `Authorization: token <t>`, the legacy
`Authorization: Token token=<t>`, a `key: <api key>` header, or `?access_token=<t>` where the
caller allows it (GET and HEAD only, kept for compatibility). Where the caller allows it, HTTP
Basic `username:password` too. A request presents at most one credential (RFC 6750 2).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field

from core import errors

_SCHEMES = frozenset({"bearer", "token"})
MAX_TOKEN_CHARS = 512
MAX_USERNAME_CHARS = 254
MAX_PASSWORD_CHARS = 1024
REALM = 'realm="sensorium"'
KEY_HEADER = "key"


@dataclass(frozen=True, slots=True)
class Basic:
    """HTTP Basic credentials; the password never appears in a repr."""

    username: str
    password: str = field(repr=False)


def invalid_token(message: str = "Invalid or expired token") -> errors.Unauthorized:
    """The 401 for a token that is presented but not live (RFC 6750 3.1: `invalid_token`)."""
    return errors.Unauthorized(
        message,
        code="invalid_token",
        headers={"WWW-Authenticate": f'Bearer {REALM}, error="invalid_token"'},
    )


def invalid_basic(message: str = "Invalid username or password") -> errors.Unauthorized:
    """The 401 for Basic credentials that do not sign anyone in."""
    return errors.Unauthorized(
        message,
        code="invalid_credentials",
        headers={"WWW-Authenticate": f'Basic {REALM}, charset="UTF-8"'},
    )


def carries_credentials(headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
    """Whether the request carries a credential in any form we read (even a malformed one)."""
    return "Authorization" in headers or KEY_HEADER in headers or "access_token" in query


def presented(
    headers: Mapping[str, str], query: Mapping[str, str], *, allow_query: bool, allow_basic: bool
) -> str | Basic | None:
    """The token or Basic credentials the request presents, or None if it presents none.

    Raises Unauthorized for a credential we cannot read (an unknown scheme, a malformed token or
    Basic value, Basic where it is not allowed) and BadRequest for more than one credential.
    """
    header = headers.get("Authorization", "").strip()
    key = headers.get(KEY_HEADER, "").strip()
    in_query = query.get("access_token", "") if allow_query else ""
    if sum(1 for given in (header, key, in_query) if given) > 1:
        message = "Present one credential: Authorization, the key header or access_token"
        raise errors.BadRequest(message, code="invalid_request")
    if key:
        return _checked(key)
    if in_query:
        return _checked(in_query)
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "basic":
        if not allow_basic:
            raise errors.Unauthorized(
                "Basic authentication is not accepted here; send a token: "
                "'Authorization: Bearer <token>'",
                code="invalid_credentials",
            )
        return _basic(value)
    if scheme.lower() not in _SCHEMES:
        raise errors.Unauthorized(
            "Unsupported Authorization scheme; expected 'Authorization: Bearer <token>'",
            code="invalid_credentials",
        )
    if value.lower().startswith("token="):
        value = value[6:].strip().strip('"')
    if not value:
        raise invalid_token("The Authorization header has no token")
    return _checked(value)


def presented_token(
    headers: Mapping[str, str], query: Mapping[str, str], *, allow_query: bool
) -> str | None:
    """The token the request presents, or None; Basic credentials are refused (Unauthorized)."""
    found = presented(headers, query, allow_query=allow_query, allow_basic=False)
    assert not isinstance(found, Basic)  # allow_basic=False never returns Basic
    return found


def _checked(token: str) -> str:
    if len(token) > MAX_TOKEN_CHARS or any(c.isspace() for c in token):
        raise invalid_token("Invalid token")
    return token


def _basic(value: str) -> Basic:
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise invalid_basic("Malformed Basic credentials") from None
    username, colon, password = decoded.partition(":")
    if not colon or not username or not password:
        raise invalid_basic("Basic credentials are username:password")
    if len(username) > MAX_USERNAME_CHARS or len(password) > MAX_PASSWORD_CHARS:
        raise invalid_basic()
    return Basic(username, password)
