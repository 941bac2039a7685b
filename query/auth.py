"""Who is asking, and what they may see.

A request presents a user's access token or API key (`Authorization: Bearer`, `token`, `Token
token=`, or `?access_token=` on GETs), or nothing. A token that is presented but not live is a
401, never a silent downgrade to anonymous.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from aiohttp import web

from core import credentials as request_credentials
from core import errors, tokens
from storage import credentials
from storage.pool import Connection


class User(NamedTuple):
    """An authenticated user."""

    id: int
    role: str
    is_test: bool = False  # signed in with a test API key: sees and writes only test data


async def current_user(request: web.Request, conn: Connection) -> User | None:
    """The user behind the request's token, None for anonymous requests; raises Unauthorized."""
    token = request_credentials.presented_token(
        request.headers, request.query, allow_query=request.method in ("GET", "HEAD")
    )
    if token is None:
        return None
    holder = await credentials.token_principal(conn, tokens.hash_token(token))
    expired = (
        holder is not None
        and holder.expires_at is not None
        and (holder.expires_at <= datetime.now(UTC))
    )
    if holder is None or expired or holder.user_id is None or holder.role is None:
        raise errors.Unauthorized("Invalid or expired token", code="invalid_token")
    return User(holder.user_id, holder.role, holder.is_test)


def is_owner(user: User | None, device: Mapping[str, Any]) -> bool:
    """Whether `user` owns `device` or is an admin (and may edit it): only in the device's mode,
    so a test key never acts on a live device, nor a live credential on a test one."""
    return (
        user is not None
        and user.is_test == bool(device["is_test"])
        and (user.role == "admin" or user.id == device["owner_id"])
    )


def can_see(user: User | None, device: Mapping[str, Any]) -> bool:
    """Test devices are visible only to test credentials, live ones only to live credentials
    (anonymous requests are live); private devices only to their owner and admins."""
    if (user is not None and user.is_test) != bool(device["is_test"]):
        return False
    return not device["is_private"] or is_owner(user, device)
