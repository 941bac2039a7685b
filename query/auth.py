"""Who is asking, and what they may see.

A request presents a user's access token or API key (`Authorization: Bearer`, `token`, `Token
token=`, the `key` header, or `?access_token=` on GETs), HTTP Basic `username:password`, or
nothing. A credential that is presented but not live (unknown, expired, revoked, a refresh token,
a device's token) is a 401, never a silent downgrade to anonymous.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from aiohttp import web

from core import credentials as request_credentials
from core import tokens
from query import signin
from storage import accounts, users
from storage.models import StoredCredential
from storage.pool import Connection, Pool


class User(NamedTuple):
    """An authenticated user."""

    id: int
    role: str
    is_test: bool = False  # signed in with a test API key: sees and writes only test data


class Session(NamedTuple):
    """Who asks, and the stored token or key they present (None for Basic credentials)."""

    user: User
    credential: StoredCredential | None


async def current_user(request: web.Request, conn: Connection) -> User | None:
    """The user behind the request's credential, None for anonymous requests; raises
    Unauthorized for a credential that is not live."""
    session = await current_session(request, conn)
    return session.user if session is not None else None


async def pooled_user(request: web.Request, pool: Pool) -> User | None:
    """As `current_user`, on a connection of `pool` taken only if a credential is presented:
    an anonymous request needs none."""
    if _presented(request) is None:
        return None
    async with pool.acquire() as conn:
        return await current_user(request, conn)


async def current_session(request: web.Request, conn: Connection) -> Session | None:
    """As `current_user`, with the stored credential presented."""
    found = _presented(request)
    if found is None:
        return None
    if isinstance(found, request_credentials.Basic):
        return Session(await _basic_user(conn, found), None)
    stored = await live_credential(conn, found)
    if stored is not None and stored.kind == "device":
        raise request_credentials.invalid_token("A device's token cannot be used here")
    if stored is None or stored.kind not in ("access", "api_key") or stored.role is None:
        raise request_credentials.invalid_token()
    assert stored.user_id is not None  # a user's token has a user
    return Session(User(stored.user_id, stored.role, stored.is_test), stored)


def _presented(request: web.Request) -> str | request_credentials.Basic | None:
    return request_credentials.presented(
        request.headers,
        request.query,
        allow_query=request.method in ("GET", "HEAD"),
        allow_basic=True,
    )


async def stored_credential(conn: Connection, token: str) -> StoredCredential | None:
    """The stored token or key (of a live user) or device token that `token` is, revoked or
    expired too; None if there is none."""
    digest = tokens.hash_token(token)
    stored = await accounts.credential(conn, digest)
    # The look-up goes through a unique index on the SHA-256, so the database compares digests,
    # never the secret: how long that takes could reveal at most how many leading bytes of a
    # digest matched, which tells nothing about the secret (SHA-256 is preimage resistant). The
    # digest fetched is compared once more in constant time, so no byte-by-byte comparison of
    # our own ever depends on it.
    if stored is None or not hmac.compare_digest(stored.token_hash, digest):
        return None
    return stored


async def live_credential(conn: Connection, token: str) -> StoredCredential | None:
    """As `stored_credential`, but None for a revoked or expired one."""
    stored = await stored_credential(conn, token)
    if stored is None or stored.revoked_at is not None:
        return None
    if stored.expires_at is not None and stored.expires_at <= datetime.now(UTC):
        return None
    return stored


async def _basic_user(conn: Connection, basic: request_credentials.Basic) -> User:
    key = signin.recent.key(basic.username, basic.password)
    user_id = signin.recent.get(key)
    account = await users.by_id(conn, user_id) if user_id is not None else None
    if account is None:
        account = await signin.sign_in(conn, basic.username, basic.password)
        if account is None:
            raise request_credentials.invalid_basic()
        signin.recent.put(key, account.id)
    return User(account.id, account.role, False)


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
