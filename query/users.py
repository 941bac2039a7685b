"""Users: sign-up, the user listing and pages, and the signed-in user's own account (`/v0/me`).

E-mail addresses are shown only to the user themself and admins, never filterable; password
hashes and tokens never leave storage. A deleted user's pages are 404s and they are listed and
found nowhere. Test keys may read `/v0/me` but not change or delete the account. Changing the
password or the e-mail address needs the current password.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from aiohttp import web

from core import errors, passwords
from core import web as core_web
from query import auth, conventions, filters, forms, pagination, profiles, signin, state
from storage import accounts, users
from storage import errors as storage_errors
from storage.models import Account
from storage.pool import Connection

routes = web.RouteTableDef()

MAX_ID_DIGITS = 18


@routes.post("/v0/users")
async def create_user(request: web.Request) -> web.Response:
    """Sign up: `username`, `email` and `password`, and optionally the profile fields."""
    params = await forms.body(request)
    refused = profiles.unexpected(params, profiles.WRITABLE)
    if refused:
        raise _refused(refused)
    missing = {name: ["can't be blank"] for name in profiles.REQUIRED if not params.get(name)}
    try:
        values = profiles.checked(params, profiles.WRITABLE)
    except errors.Unprocessable as exc:
        raise profiles.invalid({**missing, **(exc.fields or {})}) from None
    if missing:
        raise profiles.invalid(missing)
    async with state.connection(request) as conn:
        await _check_free(conn, values, None)
    password_hash = await asyncio.to_thread(passwords.hash_password, values.pop("password") or "")
    new = users.NewUser(
        username=values["username"] or "",
        email=values["email"] or "",
        password_hash=password_hash,
        **{name: values.get(name) for name in profiles.OPTIONAL},
    )
    async with state.connection(request) as conn:
        try:
            account = await users.create(conn, new)
        except storage_errors.UniqueViolation as exc:
            raise _taken_from(exc) from None
    reader = auth.User(account.id, account.role)
    document = _document(request, account, [], reader)
    location = str(conventions.base_url(request).with_path(f"/v0/users/{account.id}"))
    return core_web.json_response(document, status=201, headers={"Location": location})


@routes.get("/v0/users")
async def list_users(request: web.Request) -> web.Response:
    """Live users, paginated, filtered on username, city, country code, id, uuid and times."""
    page = pagination.requested(request.query)
    criteria = filters.criteria(
        request.query, users.USER_FIELDS, limit=page.per_page, offset=page.offset
    )
    async with state.connection(request) as conn:
        reader = await auth.current_user(request, conn)
        found = await users.listing(conn, criteria)
        devices = await users.devices_of(conn, [account.id for account in found.rows])
    headers = pagination.headers(conventions.public_url(request), page, found.total)
    body = [_document(request, a, devices[a.id], reader) for a in found.rows]
    return core_web.json_response(body, headers=headers)


@routes.get("/v0/users/{id_or_username}")
async def get_user(request: web.Request) -> web.Response:
    """One live user, by id or by username."""
    key = request.match_info["id_or_username"]
    async with state.connection(request) as conn:
        reader = await auth.current_user(request, conn)
        if key.isascii() and key.isdigit():
            account = await users.by_id(conn, int(key)) if len(key) <= MAX_ID_DIGITS else None
        else:  # no username holds a NUL (PostgreSQL text cannot)
            account = await users.by_username(conn, key) if "\x00" not in key else None
        if account is None:
            raise errors.NotFound(f"Couldn't find User with 'id'={key[:40]}", code="not_found")
        devices = await users.devices_of(conn, [account.id])
    return core_web.json_response(_document(request, account, devices[account.id], reader))


@routes.get("/v0/me")
async def get_me(request: web.Request) -> web.Response:
    """The signed-in user, with their e-mail address and private devices."""
    async with state.connection(request) as conn:
        session = await signed_in(request, conn)
        account = await _account(conn, session.user.id)
        devices = await users.devices_of(conn, [account.id])
    return core_web.json_response(_document(request, account, devices[account.id], session.user))


@routes.patch("/v0/me")
async def update_me(request: web.Request) -> web.Response:
    """Change the signed-in user's writable fields; a new `password` or `email` (what a
    password reset goes to) needs `current_password`."""
    params = await forms.body(request)
    refused = profiles.unexpected(params, (*profiles.WRITABLE, "current_password"))
    if refused:
        raise _refused(refused)
    values = profiles.checked(params, profiles.WRITABLE)
    new_password = values.pop("password", None)
    current = params.get("current_password")
    async with state.connection(request) as conn:
        session = await signed_in(request, conn)
        live_only(session.user)
        account = await _account(conn, session.user.id)
        new_email = values.get("email") not in (None, account.email)
        if new_password is not None or new_email:
            if not (isinstance(current, str) and current):
                what = "password" if new_password is not None else "e-mail address"
                raise profiles.invalid({"current_password": [f"is needed to change the {what}"]})
            if not await signin.check(account, current):
                raise profiles.invalid({"current_password": ["is not the current password"]})
        await _check_free(conn, values, account.id)
        changes: dict[str, str | None] = dict(values)
        if new_password is not None:
            changes["password_hash"] = await asyncio.to_thread(
                passwords.hash_password, new_password
            )
        try:
            updated = await users.update(conn, account.id, changes)
        except storage_errors.UniqueViolation as exc:
            raise _taken_from(exc) from None
        if updated is None:
            raise errors.NotFound("Couldn't find User", code="not_found")
        if new_password is not None:
            # Other sessions end with the old password; the one making the change goes on.
            keep = session.credential.id if session.credential is not None else None
            await accounts.end_sessions(conn, account.id, keep=keep)
            signin.recent.forget(account.id)
        devices = await users.devices_of(conn, [account.id])
    return core_web.json_response(_document(request, updated, devices[account.id], session.user))


@routes.delete("/v0/me")
async def delete_me(request: web.Request) -> web.Response:
    """Delete the signed-in user's account (softly) and revoke all their tokens and keys."""
    async with state.connection(request) as conn:
        session = await signed_in(request, conn)
        live_only(session.user)
        if not await accounts.delete_user(conn, session.user.id):
            raise errors.NotFound("Couldn't find User", code="not_found")
    signin.recent.forget(session.user.id)
    return core_web.json_response({"id": session.user.id, "object": "user", "deleted": True})


async def signed_in(request: web.Request, conn: Connection) -> auth.Session:
    """Who signed the request in; raises Unauthorized for anonymous requests."""
    session = await auth.current_session(request, conn)
    if session is None:
        raise errors.Unauthorized("Sign in first: this needs a token", code="missing_credentials")
    return session


def live_only(user: auth.User) -> None:
    """Refuse a test key (Forbidden): it may not change accounts or manage keys."""
    if user.is_test:
        raise errors.Forbidden(
            "A test key cannot change the account or its keys; use a live credential",
            code="test_key",
        )


async def _account(conn: Connection, user_id: int) -> Account:
    account = await users.by_id(conn, user_id)
    if account is None:  # deleted while the request was on its way
        raise errors.NotFound("Couldn't find User", code="not_found")
    return account


async def _check_free(
    conn: Connection, values: Mapping[str, str | None], user_id: int | None
) -> None:
    username, email = values.get("username"), values.get("email")
    if username is None and email is None:
        return
    taken = await users.taken(conn, username, email, other_than=user_id)
    problems = {
        name: ["has already been taken"]
        for name, is_taken in (("username", taken.username), ("email", taken.email))
        if is_taken
    }
    if problems:
        raise profiles.invalid(problems)


def _taken_from(exc: storage_errors.UniqueViolation) -> errors.Unprocessable:
    # Two sign-ups raced for the same name: the index that refused says which field.
    name = "email" if "email" in str(exc) else "username"
    return profiles.invalid({name: ["has already been taken"]})


def _refused(fields: dict[str, list[str]]) -> errors.BadRequest:
    names = ", ".join(fields)
    return errors.BadRequest(
        f"These fields cannot be set: {names}", code="read_only_fields", fields=fields
    )


def _document(
    request: web.Request,
    account: Account,
    devices: Sequence[Mapping[str, Any]],
    reader: auth.User | None,
) -> dict[str, Any]:
    window = timedelta(seconds=request.app[state.settings].online_window_s)
    return profiles.user_document(
        account, devices, reader=reader, now=profiles.utcnow(), online_window=window
    )
