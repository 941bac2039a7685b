"""Signing in and out, OAuth 2.0 tokens, API keys and password resets.

- `POST /v0/sessions` signs in with a username (or e-mail) and password: an access token.
  `DELETE /v0/sessions` revokes the access token presented (and its refresh tokens).
- `POST /oauth/token` (RFC 6749) with `grant_type=password` or `refresh_token`: an access token
  (ACCESS_TOKEN_TTL_S) and a refresh token (REFRESH_TOKEN_TTL_S). Each refresh revokes the
  refresh token used and issues a new pair in the same family; a refresh token presented after
  it was used revokes the whole family (it has leaked). `POST /oauth/revoke` (RFC 7009).
- `POST /v0/tokens/validate`: whether a user's token or key is live, nothing more.
- `/v0/me/api_keys`: `sk_live_`/`sk_test_` keys, shown once. Test keys cannot manage keys.
- `/v0/password_resets`: a single-use, expiring token sent by mail (query/outbox.py, after the
  answer); the answer is the same whether or not the account exists.

Secrets are stored only as SHA-256 and never logged; token answers carry `Cache-Control:
no-store` (RFC 6749 5.1).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from aiohttp import web

from core import credentials as request_credentials
from core import errors, passwords, tokens
from core import web as core_web
from query import auth, documents, forms, mailer, outbox, paths, profiles, signin, state
from query.accounts_config import AccountSettings
from query.users import live_only, signed_in
from storage import accounts, users
from storage.models import Account, ApiKey, StoredCredential
from storage.pool import Connection

logger = logging.getLogger(__name__)
routes = web.RouteTableDef()
# The app runs the outbox that mails leave from (after their answers).
outbox_ctx = outbox.outbox_ctx

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
KEY_PREFIXES = {"live": "sk_live_", "test": "sk_test_"}
MAX_LABEL_CHARS = 100
RESET_SUBJECT = "Reset your Sensorium password"
RESET_ANSWER = {
    "message": "If an account matches, a mail with a link to reset its password is on its way."
}


class OAuthError(errors.BadRequest):
    """The token request failed (RFC 6749 5.2)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(
            description,
            code=error,
            headers=NO_STORE,
            extra={"error": error, "error_description": description},
        )


# Signing in and out ----------------------------------------------------------------------------


@routes.post("/v0/sessions")
async def sign_in(request: web.Request) -> web.Response:
    """An access token for a username (or e-mail, as `username` or `email`) and password."""
    params = await forms.body(request)
    login = forms.text(params, "username") or forms.text(params, "email")
    password = params.get("password")
    if login is None or not isinstance(password, str) or not password:
        fields = {} if login else {"username": ["can't be blank"]}
        if not (isinstance(password, str) and password):
            fields["password"] = ["can't be blank"]
        raise errors.BadRequest(
            "username (or email) and password are required", code="invalid_request", fields=fields
        )
    settings = _settings(request)
    async with state.connection(request) as conn:
        account = await signin.sign_in(conn, login, password)
        if account is None:
            raise errors.Unauthorized("Invalid username or password", code="invalid_credentials")
        access = tokens.new_token()
        await accounts.issue(
            conn,
            account.id,
            [accounts.NewToken(tokens.hash_token(access), "access", settings.access_token_ttl_s)],
            family_id=uuid.uuid4(),
        )
    logger.info("user %d signed in", account.id, extra={"action": "signed_in"})
    body = {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": settings.access_token_ttl_s,
    }
    return core_web.json_response(body, headers=NO_STORE)


@routes.delete("/v0/sessions")
async def sign_out(request: web.Request) -> web.Response:
    """Revoke the access token presented, and the refresh tokens issued with it."""
    async with state.connection(request) as conn:
        session = await signed_in(request, conn)
        stored = session.credential
        if stored is None or stored.kind != "access":
            raise errors.BadRequest(
                "Signing out ends an access token's session; revoke API keys at "
                "DELETE /v0/me/api_keys/{id}",
                code="not_a_session",
            )
        await _revoke(conn, stored)
    return core_web.json_response({"message": "Signed out"})


# OAuth 2.0 -------------------------------------------------------------------------------------


@routes.post("/oauth/token")
async def oauth_token(request: web.Request) -> web.Response:
    """RFC 6749 token endpoint: the `password` and `refresh_token` grants."""
    params = await forms.body(request)
    grant = _oauth_param(params, "grant_type")
    async with state.connection(request) as conn:
        if grant == "password":
            user_id = await _password_grant(conn, params)
            family = uuid.uuid4()
            issued = await _pair(conn, _settings(request), user_id, family, None)
        elif grant == "refresh_token":
            issued = await _refresh_grant(conn, params, _settings(request))
        else:
            raise OAuthError(
                "unsupported_grant_type", "grant_type must be password or refresh_token"
            )
    return core_web.json_response(issued, headers=NO_STORE)


@routes.post("/oauth/revoke")
async def oauth_revoke(request: web.Request) -> web.Response:
    """RFC 7009: revoke an access or refresh token; the answer is 200 whatever it was."""
    params = await forms.body(request)
    token = _oauth_param(params, "token")
    async with state.connection(request) as conn:
        stored = await auth.stored_credential(conn, token)
        if stored is not None and stored.kind in ("access", "refresh"):
            await _revoke(conn, stored)
    return core_web.json_response({}, headers=NO_STORE)


@routes.post("/v0/tokens/validate")
async def validate_token(request: web.Request) -> web.Response:
    """Whether `token` is a live access token, refresh token or API key; nothing else."""
    params = await forms.body(request)
    token = forms.text(params, "token")
    if token is None:
        raise forms.bad("token", "token is required")
    valid = False
    if len(token) <= request_credentials.MAX_TOKEN_CHARS:
        async with state.connection(request) as conn:
            stored = await auth.live_credential(conn, token)
        valid = stored is not None and stored.kind in ("access", "refresh", "api_key")
    return core_web.json_response({"valid": valid}, headers=NO_STORE)


async def _password_grant(conn: Connection, params: dict[str, Any]) -> int:
    login = _oauth_param(params, "username")
    password = _oauth_param(params, "password")
    account = await signin.sign_in(conn, login, password)
    if account is None:
        raise OAuthError("invalid_grant", "Invalid username or password")
    logger.info("user %d signed in", account.id, extra={"action": "signed_in"})
    return account.id


async def _refresh_grant(
    conn: Connection, params: dict[str, Any], settings: AccountSettings
) -> dict[str, Any]:
    presented = _oauth_param(params, "refresh_token")
    stored = await auth.stored_credential(conn, presented)
    if stored is None or stored.kind != "refresh" or stored.user_id is None:
        raise OAuthError("invalid_grant", "The refresh token is not valid")
    if stored.revoked_at is not None:
        if stored.family_id is not None:
            await accounts.revoke_family(conn, stored.family_id)
        logger.warning(
            "a used refresh token of user %d was presented again: its family is revoked",
            stored.user_id,
            extra={"action": "refresh_token_reused"},
        )
        raise OAuthError("invalid_grant", "The refresh token is not valid")
    if _expired(stored):
        raise OAuthError("invalid_grant", "The refresh token has expired")
    family = stored.family_id or uuid.uuid4()
    issued = await _pair(conn, settings, stored.user_id, family, stored.id)
    return issued


async def _pair(
    conn: Connection,
    settings: AccountSettings,
    user_id: int,
    family: uuid.UUID,
    spent_refresh: int | None,
) -> dict[str, Any]:
    """A new access and refresh token in `family` (rotating `spent_refresh` if given)."""
    access, refresh = tokens.new_token(), tokens.new_token()
    new = [
        accounts.NewToken(tokens.hash_token(access), "access", settings.access_token_ttl_s),
        accounts.NewToken(tokens.hash_token(refresh), "refresh", settings.refresh_token_ttl_s),
    ]
    if spent_refresh is None:
        issued = await accounts.issue(conn, user_id, new, family_id=family)
    else:
        rotated = await accounts.rotate(conn, spent_refresh, user_id, family, new)
        if rotated is None:  # a concurrent request rotated it first: that is a reuse too
            await accounts.revoke_family(conn, family)
            raise OAuthError("invalid_grant", "The refresh token is not valid")
        issued = rotated
    return {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": settings.access_token_ttl_s,
        "refresh_token": refresh,
        "created_at": int(issued[0].created_at.timestamp()),
    }


def _oauth_param(params: dict[str, Any], name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value:
        raise OAuthError("invalid_request", f"{name} is required")
    return value


async def _revoke(conn: Connection, stored: StoredCredential) -> None:
    """Revoke an access token; a refresh token with its whole family (RFC 7009 2.1)."""
    if stored.kind == "refresh" and stored.family_id is not None:
        await accounts.revoke_family(conn, stored.family_id)
    elif stored.kind == "access" and stored.family_id is not None:
        # Signing out of a session ends it: its refresh tokens go too.
        await accounts.revoke_family(conn, stored.family_id)
    else:
        await accounts.revoke(conn, stored.id)


def _expired(stored: StoredCredential) -> bool:
    return stored.expires_at is not None and stored.expires_at <= profiles.utcnow()


# API keys --------------------------------------------------------------------------------------


@routes.post("/v0/me/api_keys")
async def create_api_key(request: web.Request) -> web.Response:
    """A new API key (`mode` live or test, a `label`); the key is shown in this answer only."""
    params = await forms.body(request)
    label = forms.text(params, "label")
    mode = forms.text(params, "mode") or "live"
    problems: dict[str, list[str]] = {}
    if mode not in KEY_PREFIXES:
        problems["mode"] = ["must be live or test"]
    if label is not None and len(label) > MAX_LABEL_CHARS:
        problems["label"] = [f"is too long (maximum is {MAX_LABEL_CHARS} characters)"]
    if problems:
        raise profiles.invalid(problems)
    key = tokens.new_token(KEY_PREFIXES[mode])
    new = accounts.NewToken(
        tokens.hash_token(key), "api_key", is_test=mode == "test", label=label, last_four=key[-4:]
    )
    async with state.connection(request) as conn:
        session = await signed_in(request, conn)
        live_only(session.user)
        issued = (await accounts.issue(conn, session.user.id, [new]))[0]
    logger.info(
        "user %d created API key %d", session.user.id, issued.id, extra={"action": "api_key"}
    )
    stored = ApiKey(issued.id, label, mode == "test", key[-4:], issued.created_at, None)
    body = {**_key_document(stored), "key": key}
    return core_web.json_response(body, status=201, headers=NO_STORE)


@routes.get("/v0/me/api_keys")
async def list_api_keys(request: web.Request) -> web.Response:
    """The signed-in user's API keys, without the keys."""
    async with state.connection(request) as conn:
        session = await signed_in(request, conn)
        live_only(session.user)
        keys = await accounts.api_keys(conn, session.user.id)
    return core_web.json_response([_key_document(key) for key in keys])


@routes.delete("/v0/me/api_keys/{key_id}")
async def revoke_api_key(request: web.Request) -> web.Response:
    """Revoke one of the signed-in user's API keys (another user's is a 404)."""
    raw = request.match_info["key_id"]
    async with state.connection(request) as conn:
        session = await signed_in(request, conn)
        live_only(session.user)
        found = None
        if paths.is_id(raw, paths.BIGINT_ID_DIGITS):
            found = await accounts.revoke_api_key(conn, int(raw), session.user.id)
    if found is None:
        raise errors.NotFound(f"Couldn't find ApiKey with 'id'={raw[:40]}", code="not_found")
    return core_web.json_response(_key_document(found))


def _key_document(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "object": "api_key",
        "label": key.label,
        "mode": "test" if key.is_test else "live",
        "last_four": key.last_four,
        "created_at": documents.timestamp(key.created_at),
        "revoked_at": documents.timestamp(key.revoked_at),
    }


# Password resets -------------------------------------------------------------------------------


@routes.post("/v0/password_resets")
async def request_password_reset(request: web.Request) -> web.Response:
    """Mail a reset link to the account with this `username` or `email`, if there is one."""
    params = await forms.parameters(request)
    login = (
        forms.text(params, "email")
        or forms.text(params, "username")
        or forms.text(params, "email_or_username")
    )
    if login is None:
        raise forms.bad("email", "username or email is required")
    async with state.connection(request) as conn:
        account = await users.by_login(conn, login)
        if account is not None and account.email:
            await _send_reset(request, conn, account.id, account.email)
    return core_web.json_response(RESET_ANSWER, status=202)


@routes.get("/v0/password_resets/{token}")
async def get_password_reset(request: web.Request) -> web.Response:
    """The user a live reset token belongs to (as anyone may see them); else 404."""
    token = request.match_info["token"]
    async with state.connection(request) as conn:
        user_id = await accounts.reset_user(conn, tokens.hash_token(token))
        account = await users.by_id(conn, user_id) if user_id is not None else None
        if account is None:
            raise _reset_not_found()
        devices = await users.devices_of(conn, [account.id])
    return core_web.json_response(_public(request, account, devices[account.id]))


@routes.patch("/v0/password_resets/{token}")
async def use_password_reset(request: web.Request) -> web.Response:
    """Set a new `password` with a live reset token; the token is spent and sessions end."""
    token_hash = tokens.hash_token(request.match_info["token"])
    params = await forms.body(request)
    if "password" not in params:
        raise profiles.invalid({"password": ["can't be blank"]})
    password = profiles.checked(params, ("password",))["password"] or ""
    async with state.connection(request) as conn:
        if await accounts.reset_user(conn, token_hash) is None:
            raise _reset_not_found()
    password_hash = await asyncio.to_thread(passwords.hash_password, password)
    async with state.connection(request) as conn:
        user_id = await accounts.reset_password(conn, token_hash, password_hash)
        account = await users.by_id(conn, user_id) if user_id is not None else None
        if account is None:
            raise _reset_not_found()
        devices = await users.devices_of(conn, [account.id])
    signin.recent.forget(account.id)
    logger.info("user %d reset their password", account.id, extra={"action": "password_reset"})
    return core_web.json_response(_public(request, account, devices[account.id]))


async def _send_reset(request: web.Request, conn: Connection, user_id: int, email: str) -> None:
    settings = _settings(request)
    token = tokens.new_token()
    mail_id = await accounts.create_reset(
        conn,
        user_id,
        tokens.hash_token(token),
        settings.password_reset_ttl_s,
        recipient=email,
        subject=RESET_SUBJECT,
    )
    logger.info(
        "password reset mail queued for user %d",
        user_id,
        extra={"action": "password_reset_queued", "mail_id": mail_id},
    )
    link = f"{settings.public_url}/v0/password_resets/{token}"
    minutes = max(1, settings.password_reset_ttl_s // 60)
    body = (
        "Someone asked to reset the password of your Sensorium account.\n\n"
        f"To choose a new password, send it with PATCH to this link within {minutes} minutes:\n"
        f"{link}\n\n"
        f"Reset token: {token}\n\n"
        "If it was not you, ignore this mail: your password stays as it is.\n"
    )
    request.app[outbox.outbox_key].send(mail_id, mailer.Mail(email, RESET_SUBJECT, body))


def _reset_not_found() -> errors.NotFound:
    return errors.NotFound("This password reset link is not valid any more", code="not_found")


def _public(
    request: web.Request, account: Account, devices: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    window = timedelta(seconds=request.app[state.settings].online_window_s)
    return profiles.user_document(
        account, devices, reader=None, now=profiles.utcnow(), online_window=window
    )


def _settings(request: web.Request) -> AccountSettings:
    return request.app[state.settings].accounts
