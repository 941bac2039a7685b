"""Who is asking, and what they may see (the full account system arrives with accounts)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from storage.pool import Connection


class User:
    """An authenticated user."""

    __slots__ = ("id", "role")

    def __init__(self, user_id: int, role: str) -> None:
        self.id = user_id
        self.role = role


async def current_user(request: web.Request, conn: Connection) -> User | None:
    """The user behind the request's credentials, or None for anonymous requests."""
    return None


def is_owner(user: User | None, device: Mapping[str, Any]) -> bool:
    """Whether `user` owns `device` or is an admin."""
    return user is not None and (user.role == "admin" or user.id == device["owner_id"])


def can_see(user: User | None, device: Mapping[str, Any]) -> bool:
    """Private devices are visible only to their owner and admins."""
    return not device["is_private"] or is_owner(user, device)
