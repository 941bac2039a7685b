"""Users: creating, reading, changing and (softly) deleting them, and listing them with filters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from storage import errors, listings
from storage.models import Account
from storage.pool import Connection
from storage.queries import SQL

# Filterable and sortable: never e-mail addresses, password hashes or anything of tokens.
USER_FIELDS: Mapping[str, listings.Field] = {
    "id": listings.Field("id", "int"),
    "uuid": listings.Field("uuid", "uuid"),
    "username": listings.Field("username", "text"),
    "city": listings.Field("city", "text"),
    "country_code": listings.Field("country_code", "text"),
    "created_at": listings.Field("created_at", "time"),
    "updated_at": listings.Field("updated_at", "time"),
}


class NewUser(NamedTuple):
    """What a sign-up gives (the password already hashed)."""

    username: str
    email: str
    password_hash: str
    first_name: str | None = None
    last_name: str | None = None
    city: str | None = None
    country_code: str | None = None
    url: str | None = None
    avatar: str | None = None


class Taken(NamedTuple):
    """Which of a username and an e-mail address another user already has."""

    username: bool
    email: bool


async def create(conn: Connection, user: NewUser) -> Account:
    """The new user. Raises UniqueViolation if the username or e-mail is taken, StorageError."""
    with errors.translated():
        row = await conn.fetchrow(SQL["user_create"], *user)
    assert row is not None  # INSERT ... RETURNING returns the row
    return Account(*row)


async def by_id(conn: Connection, user_id: int) -> Account | None:
    """The live user `user_id`, or None if absent or deleted."""
    with errors.translated():
        row = await conn.fetchrow(SQL["user_by_id"], user_id)
    return Account(*row) if row else None


async def by_username(conn: Connection, username: str) -> Account | None:
    """The live user with this username (any case), or None."""
    with errors.translated():
        row = await conn.fetchrow(SQL["user_by_username"], username)
    return Account(*row) if row else None


async def by_login(conn: Connection, login: str) -> Account | None:
    """The live user whose username or e-mail address is `login` (any case), or None."""
    with errors.translated():
        row = await conn.fetchrow(SQL["user_by_login"], login)
    return Account(*row) if row else None


async def taken(
    conn: Connection, username: str | None, email: str | None, *, other_than: int | None = None
) -> Taken:
    """Whether `username` and `email` belong to a user other than `other_than` (deleted too)."""
    with errors.translated():
        row = await conn.fetchrow(SQL["users_taken"], username, email, other_than)
    assert row is not None
    return Taken(bool(row[0]), bool(row[1]))


async def update(
    conn: Connection, user_id: int, changes: Mapping[str, str | None]
) -> Account | None:
    """User `user_id` with `changes` (column: value; username, email, password_hash, profile
    columns) applied, or None if the user is absent or deleted. Raises UniqueViolation."""
    with errors.translated():
        row = await conn.fetchrow(SQL["user_update"], user_id, dict(changes))
    return Account(*row) if row else None


async def soft_delete(conn: Connection, user_id: int) -> bool:
    """Mark the user and their devices deleted (the workers purge the devices' readings);
    False if the user was absent or already deleted. The caller revokes the user's tokens in
    the same transaction."""
    with errors.translated():
        return await conn.fetchval(SQL["user_soft_delete"], user_id) is not None


async def listing(conn: Connection, criteria: listings.Criteria) -> listings.Page:
    """A page of live users (Account rows), filtered and sorted on USER_FIELDS."""
    # listings' paging appends only allowlisted columns and binds every value.
    total, rows = await listings._page(conn, SQL["users_listing"], [], criteria, USER_FIELDS)
    return listings.Page(total, [Account(*row) for row in rows])


async def devices_of(
    conn: Connection, user_ids: Sequence[int]
) -> dict[int, list[Mapping[str, Any]]]:
    """The devices (not deleted, test and private ones included) of each user, oldest first;
    the caller decides which a reader may see."""
    found: dict[int, list[Mapping[str, Any]]] = {user_id: [] for user_id in user_ids}
    with errors.translated():
        rows = await conn.fetch(SQL["users_devices"], list(user_ids))
    for row in rows:
        found[row["owner_id"]].append(dict(row))
    return found
