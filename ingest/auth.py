"""Who may post readings for a device: the device's own token, or a token of its owner or an admin.

Tokens travel in `Authorization` as `Bearer <t>`, `token <t>` or `Token token=<t>`, or an API key
in the `key` header (never in the URL of a POST; HTTP Basic is refused with a 401 naming it).
They are compared by SHA-256 look-ups, so no secret is compared byte by byte,
and they are never logged.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime

from aiohttp import web

from core import credentials, errors, tokens
from ingest import registry
from storage import models


def token_of(request: web.Request) -> str:
    """The token in the request's Authorization or `key` header; raises Unauthorized when there
    is none or it is not a token (HTTP Basic included)."""
    token = credentials.presented_token(request.headers, request.query, allow_query=False)
    if token is None:
        hint = ""
        if "access_token" in request.query:
            hint = "; access_token in the URL is not accepted here"
        raise errors.Unauthorized(f"Authorization required{hint}", code="missing_credentials")
    return token


async def authorize(device: registry.Device, token: str, known: registry.Registry) -> None:
    """Allow `token` to post for `device`, or raise Unauthorized (not a live token) or Forbidden."""
    digest = tokens.hash_token(token)
    own_hash = device.record.token_hash
    if own_hash is not None and hmac.compare_digest(own_hash, digest):
        return
    decide(device.record, await known.principal(digest), datetime.now(UTC))


def decide(
    device: models.IngestDevice, holder: models.TokenPrincipal | None, now: datetime
) -> None:
    """Whether `holder`, a token's holder (None: no live token), may post for `device`."""
    if holder is None or (holder.expires_at is not None and holder.expires_at <= now):
        raise errors.Unauthorized("Invalid or expired token", code="invalid_token")
    if holder.device_id is not None:
        if holder.device_id == device.id:
            return
        raise errors.Forbidden("This token belongs to another device", code="not_your_device")
    if holder.is_test and not device.is_test:
        raise errors.Forbidden("A test key can only post for test devices", code="test_key")
    if holder.role == "admin" or (holder.user_id is not None and holder.user_id == device.owner_id):
        return
    raise errors.Forbidden("This device belongs to another user", code="not_your_device")
