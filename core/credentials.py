"""Reading a token from a request: `Authorization: Bearer <t>`, `token <t>`, `Token token=<t>`,
or `?access_token=<t>` where the caller allows it (GET only, kept for compatibility)."""

from __future__ import annotations

from collections.abc import Mapping

from core import errors

_SCHEMES = frozenset({"bearer", "token"})
MAX_TOKEN_CHARS = 512


def presented_token(
    headers: Mapping[str, str], query: Mapping[str, str], *, allow_query: bool
) -> str | None:
    """The token the request presents, or None if it presents none.

    Raises Unauthorized when an Authorization header is there but is not a token we read.
    """
    header = headers.get("Authorization", "").strip()
    if not header:
        token = query.get("access_token", "") if allow_query else ""
        return _checked(token) if token else None
    scheme, _, credentials = header.partition(" ")
    credentials = credentials.strip()
    if scheme.lower() not in _SCHEMES:
        raise errors.Unauthorized(
            "Unsupported Authorization scheme; expected 'Authorization: Bearer <token>'",
            code="invalid_credentials",
        )
    if credentials.lower().startswith("token="):
        credentials = credentials[6:].strip().strip('"')
    if not credentials:
        raise errors.Unauthorized("The Authorization header has no token", code="invalid_token")
    return _checked(credentials)


def _checked(token: str) -> str:
    if len(token) > MAX_TOKEN_CHARS or any(c.isspace() for c in token):
        raise errors.Unauthorized("Invalid token", code="invalid_token")
    return token
