"""OAuth 2.0: the token endpoint (RFC 6749), rotating refresh tokens, revocation (RFC 7009)
and token validation."""

from __future__ import annotations

import time

import pytest

from core import tokens
from tests.integration.query import accounts_support as support
from tests.integration.query.accounts_support import bearer, sign_in, sign_up

client = support.client
spool = support.spool


async def _token(client, **form):
    return await client.post("/oauth/token", data=form)


async def _password_grant(client, username):
    response = await _token(
        client, grant_type="password", username=username, password=support.PASSWORD
    )
    assert response.status == 200, await response.text()
    return await response.json()


async def _refresh(client, refresh_token):
    return await _token(client, grant_type="refresh_token", refresh_token=refresh_token)


async def _me_status(client, token):
    return (await client.get("/v0/me", headers=bearer(token))).status


async def test_the_password_grant_answers_as_rfc_6749_says(client):
    user = await sign_up(client, "alice")
    response = await _token(
        client, grant_type="password", username="alice", password=support.PASSWORD
    )
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    answer = await response.json()
    assert set(answer) == {
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "created_at",
    }
    assert answer["token_type"] == "Bearer" and answer["expires_in"] == 7200
    assert abs(answer["created_at"] - time.time()) < 300
    me = await client.get("/v0/me", headers=bearer(answer["access_token"]))
    assert (await me.json())["id"] == user["id"]
    # The refresh token is not an access token.
    assert await _me_status(client, answer["refresh_token"]) == 401


async def test_json_bodies_are_accepted_too(client):
    await sign_up(client, "bob")
    body = {"grant_type": "password", "username": "bob", "password": support.PASSWORD}
    response = await client.post("/oauth/token", json=body)
    assert response.status == 200


async def test_refresh_rotates_and_a_reused_refresh_token_revokes_its_family(client):
    await sign_up(client, "carol")
    first = await _password_grant(client, "carol")
    response = await _refresh(client, first["refresh_token"])
    assert response.status == 200
    second = await response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert await _me_status(client, second["access_token"]) == 200
    # The first refresh token was spent: presenting it again means it leaked.
    response = await _refresh(client, first["refresh_token"])
    assert response.status == 400
    assert (await response.json())["error"] == "invalid_grant"
    assert await _me_status(client, second["access_token"]) == 401
    assert (await _refresh(client, second["refresh_token"])).status == 400
    # Another sign-in is another family, untouched.
    other = await _password_grant(client, "carol")
    assert (await _refresh(client, other["refresh_token"])).status == 200


async def test_expired_refresh_tokens_are_refused(client, db_pool):
    await sign_up(client, "dave")
    grant = await _password_grant(client, "dave")
    async with db_pool.acquire() as conn:
        await conn.execute(
            "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = $1",
            tokens.hash_token(grant["refresh_token"]),
        )
    response = await _refresh(client, grant["refresh_token"])
    assert response.status == 400
    assert (await response.json())["error"] == "invalid_grant"


async def test_refresh_tokens_expire_after_their_setting(client, db_pool):
    await sign_up(client, "erin")
    grant = await _password_grant(client, "erin")
    async with db_pool.acquire() as conn:
        lifetime = await conn.fetchval(
            "SELECT expires_at - created_at FROM api_tokens WHERE token_hash = $1",
            tokens.hash_token(grant["refresh_token"]),
        )
    assert lifetime.total_seconds() == 30 * 86400


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({}, "invalid_request"),
        ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
        ({"grant_type": "password", "username": "frank"}, "invalid_request"),
        ({"grant_type": "password", "username": "frank", "password": "wrong one"},
         "invalid_grant"),
        ({"grant_type": "password", "username": "nobody", "password": "wrong one"},
         "invalid_grant"),
        ({"grant_type": "refresh_token"}, "invalid_request"),
        ({"grant_type": "refresh_token", "refresh_token": "nope"}, "invalid_grant"),
    ],
)  # fmt: skip
async def test_errors_carry_the_rfc_keys_and_the_error_model(client, form, error):
    await sign_up(client, "frank")
    response = await _token(client, **form)
    assert response.status == 400
    body = await response.json()
    assert body["error"] == body["code"] == error
    assert body["error_description"] == body["message"]
    assert body["object"] == "error" and body["request_id"]


async def test_an_access_token_is_not_a_refresh_token(client):
    await sign_up(client, "gina")
    grant = await _password_grant(client, "gina")
    response = await _refresh(client, grant["access_token"])
    assert (await response.json())["error"] == "invalid_grant"
    assert await _me_status(client, grant["access_token"]) == 200


async def test_revoke_always_answers_200(client):
    await sign_up(client, "hank")
    grant = await _password_grant(client, "hank")
    for token in (grant["access_token"], grant["access_token"], "not a token at all"):
        response = await client.post("/oauth/revoke", data={"token": token})
        assert response.status == 200
    assert await _me_status(client, grant["access_token"]) == 401
    # Revoking a refresh token ends its family, access tokens included.
    grant = await _password_grant(client, "hank")
    assert (
        await client.post("/oauth/revoke", data={"token": grant["refresh_token"]})
    ).status == 200
    assert await _me_status(client, grant["access_token"]) == 401
    assert (await _refresh(client, grant["refresh_token"])).status == 400
    assert (await client.post("/oauth/revoke", data={})).status == 400


async def test_sign_out_of_an_oauth_session_ends_its_refresh_token(client):
    await sign_up(client, "iris")
    grant = await _password_grant(client, "iris")
    assert (
        await client.delete("/v0/sessions", headers=bearer(grant["access_token"]))
    ).status == 200
    assert (await _refresh(client, grant["refresh_token"])).status == 400


async def test_validate_says_only_whether_a_token_is_live(client):
    await sign_up(client, "jack")
    token = await sign_in(client, "jack")
    response = await client.post("/v0/tokens/validate", json={"token": token})
    assert await response.json() == {"valid": True}
    key = (await (await client.post("/v0/me/api_keys", headers=bearer(token))).json())["key"]
    for candidate, valid in ((key, True), (tokens.new_token(), False), ("x" * 600, False)):
        response = await client.post("/v0/tokens/validate", data={"token": candidate})
        assert await response.json() == {"valid": valid}
    await client.delete("/v0/sessions", headers=bearer(token))
    response = await client.post("/v0/tokens/validate", json={"token": token})
    assert await response.json() == {"valid": False}
    assert (await client.post("/v0/tokens/validate", json={})).status == 400
