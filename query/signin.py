"""Checking a username (or e-mail) and password, the same way whether or not the user exists.

Argon2 is deliberately slow, so it runs in a thread, and it runs against a dummy hash when there
is no such user: the answer and its timing say nothing about which usernames exist. HTTP Basic
clients present the password on every request; `recent` remembers a successful check for a few
seconds so they do not pay Argon2 each time.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import threading
import time

from core import passwords
from storage import users
from storage.models import Account
from storage.pool import Connection

_dummy: list[str] = []
_dummy_lock = threading.Lock()


def _dummy_hash() -> str:
    """An Argon2 hash of a random password, made once (in a worker thread)."""
    with _dummy_lock:
        if not _dummy:
            made = passwords.hash_password(secrets.token_urlsafe(16))
            if not made.startswith("$argon2"):
                return made  # a stand-in hasher (tests): do not keep it
            _dummy.append(made)
        return _dummy[0]


def _verify(account: Account | None, password: str) -> bool:
    stored = account.password_hash if account is not None else None
    if stored is None:
        passwords.verify_password(_dummy_hash(), password)
        return False
    return passwords.verify_password(stored, password)


async def check(account: Account | None, password: str) -> bool:
    """Whether `password` is `account`'s (False for no account, after the same work)."""
    return await asyncio.to_thread(_verify, account, password)


async def sign_in(conn: Connection, login: str, password: str) -> Account | None:
    """The live user whose username or e-mail is `login` and whose password this is, or None."""
    account = await users.by_login(conn, login)
    return account if await check(account, password) else None


class RecentLogins:
    """Recent successful password checks: SHA-256 of (login, password) -> user id, for `ttl_s`.

    Only successes are kept, so a wrong password always pays Argon2. The digest stays in this
    process's memory and is never logged.
    """

    def __init__(self, ttl_s: float = 5.0, max_entries: int = 1024) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[bytes, tuple[int, float]] = {}

    @staticmethod
    def key(login: str, password: str) -> bytes:
        """The cache key of a login and password."""
        return hashlib.sha256(
            login.encode("utf-8", "surrogatepass")
            + b"\0"
            + password.encode("utf-8", "surrogatepass")
        ).digest()

    def get(self, key: bytes) -> int | None:
        """The user id checked under `key` within `ttl_s`, or None."""
        found = self._entries.get(key)
        if found is None:
            return None
        if found[1] <= time.monotonic():
            del self._entries[key]
            return None
        return found[0]

    def put(self, key: bytes, user_id: int) -> None:
        """Remember a successful check."""
        now = time.monotonic()
        if len(self._entries) >= self.max_entries:
            self._entries = {k: v for k, v in self._entries.items() if v[1] > now}
            while len(self._entries) >= self.max_entries:
                del self._entries[next(iter(self._entries))]  # the oldest
        self._entries[key] = (user_id, now + self.ttl_s)

    def forget(self, user_id: int) -> None:
        """Drop every entry of `user_id` (its password changed, or it was deleted)."""
        self._entries = {k: v for k, v in self._entries.items() if v[0] != user_id}


recent = RecentLogins()
