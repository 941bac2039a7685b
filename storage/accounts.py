"""Secrets of accounts: access and refresh tokens, API keys, password resets, the mail outbox.

Every secret is stored only as its SHA-256 (`core.tokens`); the functions here take hashes, never
the secrets. Operations that must happen together (rotating a refresh token, resetting a
password, deleting a user) run in one transaction here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple
from uuid import UUID

from storage import errors
from storage.models import ApiKey, IssuedToken, StoredCredential
from storage.pool import Connection
from storage.queries import SQL

SESSION_KINDS = ("access", "refresh")


class NewToken(NamedTuple):
    """A token to store: its hash and how it behaves."""

    token_hash: bytes
    kind: str  # access, refresh or api_key
    ttl_s: float | None = None
    is_test: bool = False
    label: str | None = None
    last_four: str | None = None


async def credential(conn: Connection, token_hash: bytes) -> StoredCredential | None:
    """What the secret hashing to `token_hash` belongs to, revoked or expired too (the caller
    decides); None if nothing, or if its user is deleted."""
    with errors.translated():
        row = await conn.fetchrow(SQL["credential_by_hash"], token_hash)
    return StoredCredential(*row) if row else None


async def issue(
    conn: Connection, user_id: int, tokens: Sequence[NewToken], *, family_id: UUID | None = None
) -> list[IssuedToken]:
    """Store `tokens` for `user_id` in one transaction, all in `family_id` if given."""
    with errors.translated():
        async with conn.transaction():
            return [await _insert(conn, user_id, token, family_id) for token in tokens]


async def rotate(
    conn: Connection, refresh_id: int, user_id: int, family_id: UUID, tokens: Sequence[NewToken]
) -> list[IssuedToken] | None:
    """Revoke refresh token `refresh_id` and store `tokens` in its family, in one transaction;
    None (nothing stored) if another request spent that refresh token first."""
    with errors.translated():
        async with conn.transaction():
            if await conn.fetchval(SQL["token_spend"], refresh_id) is None:
                return None
            return [await _insert(conn, user_id, token, family_id) for token in tokens]


async def _insert(
    conn: Connection, user_id: int, token: NewToken, family_id: UUID | None
) -> IssuedToken:
    row = await conn.fetchrow(
        SQL["token_insert"],
        user_id,
        token.token_hash,
        token.kind,
        token.is_test,
        token.label,
        token.ttl_s,
        family_id,
        token.last_four,
    )
    assert row is not None  # INSERT ... RETURNING returns the row
    return IssuedToken(*row)


async def revoke(conn: Connection, token_id: int) -> bool:
    """Revoke the token `token_id`; False if it was already revoked."""
    with errors.translated():
        return await conn.fetchval(SQL["token_spend"], token_id) is not None


async def revoke_family(conn: Connection, family_id: UUID) -> None:
    """Revoke every live token of the family."""
    with errors.translated():
        await conn.execute(SQL["tokens_revoke_family"], family_id)


async def api_keys(conn: Connection, user_id: int) -> list[ApiKey]:
    """The user's API keys, revoked ones too, oldest first."""
    with errors.translated():
        rows = await conn.fetch(SQL["api_keys_of"], user_id)
    return [ApiKey(*row) for row in rows]


async def revoke_api_key(conn: Connection, key_id: int, user_id: int) -> ApiKey | None:
    """Revoke API key `key_id` of `user_id`; None if the user has no such key."""
    with errors.translated():
        row = await conn.fetchrow(SQL["api_key_revoke"], key_id, user_id)
    return ApiKey(*row) if row else None


async def delete_user(conn: Connection, user_id: int) -> bool:
    """Soft-delete the user, revoke all their tokens and keys and spend their password resets,
    in one transaction; False if the user was absent or already deleted."""
    with errors.translated():
        async with conn.transaction():
            if await conn.fetchval(SQL["user_soft_delete"], user_id) is None:
                return False
            await conn.execute(
                SQL["tokens_revoke_user"], user_id, [*SESSION_KINDS, "api_key"], None
            )
            await conn.execute(SQL["resets_spend_user"], user_id)
    return True


async def end_sessions(conn: Connection, user_id: int, *, keep: int | None = None) -> None:
    """Revoke the user's access and refresh tokens but token `keep` (their API keys stay)."""
    with errors.translated():
        await conn.execute(SQL["tokens_revoke_user"], user_id, list(SESSION_KINDS), keep)


async def create_reset(
    conn: Connection,
    user_id: int,
    token_hash: bytes,
    ttl_s: float,
    *,
    recipient: str,
    subject: str,
) -> int:
    """Store a password reset token and its mail's outbox entry in one transaction; returns the
    outbox id."""
    with errors.translated():
        async with conn.transaction():
            await conn.execute(SQL["reset_create"], user_id, token_hash, ttl_s)
            mail_id: int = await conn.fetchval(
                SQL["outbox_add"], user_id, recipient, subject, "password_reset"
            )
    return mail_id


async def reset_user(conn: Connection, token_hash: bytes) -> int | None:
    """The live user of an unused, unexpired reset token, or None."""
    with errors.translated():
        user_id: int | None = await conn.fetchval(SQL["reset_user"], token_hash)
    return user_id


async def reset_password(conn: Connection, token_hash: bytes, password_hash: str) -> int | None:
    """Spend the reset token, set the password, spend the user's other reset tokens and end
    their sessions, in one transaction; returns the user id, or None if the token is not live
    (used, expired, unknown, or its user deleted)."""
    with errors.translated():
        async with conn.transaction():
            user_id: int | None = await conn.fetchval(SQL["reset_spend"], token_hash)
            if user_id is None:
                return None
            await conn.execute(SQL["user_set_password"], user_id, password_hash)
            await conn.execute(SQL["resets_spend_user"], user_id)
            await conn.execute(SQL["tokens_revoke_user"], user_id, list(SESSION_KINDS), None)
    return user_id


async def mail_delivered(conn: Connection, mail_id: int) -> None:
    """Record that the outbox mail left."""
    with errors.translated():
        await conn.execute(SQL["outbox_delivered"], mail_id)


async def mail_failed(conn: Connection, mail_id: int, error: str) -> None:
    """Record why the outbox mail could not be delivered."""
    with errors.translated():
        await conn.execute(SQL["outbox_failed"], mail_id, error[:500])
