"""The accounts cases of tests/integration/query/test_openapi.py: one request each, with the
status it must get, and the accounts part of the seeded world they run in."""

from __future__ import annotations

import base64
import uuid
from urllib.parse import urlencode

from core import passwords, tokens
from storage import accounts

KEEPER_PASSWORD = "keeper's password"
# Hashed once at import: the world fixture replaces the hasher with a stand-in.
KEEPER_HASH = passwords.hash_password(KEEPER_PASSWORD)
OWNER = {"Authorization": "Bearer {token}"}
OTHER = {"Authorization": "Bearer {other_token}"}
TEST_KEY = {"key": "{test_key}"}
BAD = {"Authorization": "Bearer nope"}
V1 = {"Accept": "application/vnd.smartcitizen; version=1"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
BASIC = {
    "Authorization": "Basic " + base64.b64encode(f"keeper:{KEEPER_PASSWORD}".encode()).decode()
}
SIGN_IN = {"username": "keeper", "password": KEEPER_PASSWORD}
NEW_USER = {"username": "newcomer", "email": "new@example.org", "password": "long enough"}


async def world(conn, fleet):
    """A user with a real password, a refresh token, a reset token and API keys of the demo
    user; the placeholders the cases use."""
    keeper = await conn.fetchval(
        "INSERT INTO users (username, email, password_hash) VALUES ('keeper', 'k@example.org', $1)"
        " RETURNING id",
        KEEPER_HASH,
    )
    demo_id = await conn.fetchval("SELECT id FROM users WHERE username = 'demo'")
    refresh, reset = tokens.new_token(), tokens.new_token()
    live_key, test_key = tokens.new_token("sk_live_"), tokens.new_token("sk_test_")
    await accounts.issue(
        conn,
        keeper,
        [accounts.NewToken(tokens.hash_token(refresh), "refresh", 3600)],
        family_id=uuid.uuid4(),
    )
    await accounts.create_reset(
        conn, keeper, tokens.hash_token(reset), 3600, recipient="k@example.org", subject="reset"
    )
    [live, _] = await accounts.issue(
        conn,
        demo_id,
        [
            accounts.NewToken(tokens.hash_token(live_key), "api_key", last_four=live_key[-4:]),
            accounts.NewToken(tokens.hash_token(test_key), "api_key", is_test=True),
        ],
    )
    return {
        "refresh_token": refresh,
        "reset_token": reset,
        "api_key_id": str(live.id),
        "test_key": test_key,
    }


def _case(operation, status, path, method="GET", **rest):
    return {"operation": operation, "status": status, "path": path, "method": method, **rest}


# Every operation that takes `pretty` checks it before anything else.
BAD_PRETTY = {"pretty": "maybe"}


def _read(operation, path, **rest):
    """A GET anyone may make: OK, JSON-P, pretty, a bad parameter, another version."""
    return [
        _case(operation, 200, path, **rest),
        _case(operation, 200, path, params={"callback": "cb"}, note="jsonp", **rest),
        _case(operation, 200, path, params={"pretty": "true"}, note="pretty", **rest),
        _case(operation, 400, path, params={"pretty": "maybe"}, **rest),
        _case(operation, 406, path, headers=V1, **rest),
    ]


CASES = [
    *_read("listUsers", "/v0/users"),
    _case("listUsers", 200, "/v0/users", params={"per_page": "1", "page": "2"}, note="page"),
    _case("listUsers", 400, "/v0/users", params={"q[email_eq]": "x"}, note="filter"),
    _case("listUsers", 401, "/v0/users", headers=BAD),
    _case("createUser", 201, "/v0/users", "POST", body=NEW_USER),
    _case("createUser", 201, "/v0/users", "POST", headers=FORM, note="form",
          body=b"username=formed&email=f%40example.org&password=long+enough&city=Vic"),
    _case("createUser", 400, "/v0/users", "POST", body={**NEW_USER, "role": "admin"}),
    _case("createUser", 406, "/v0/users", "POST", headers=V1, body=NEW_USER),
    _case("createUser", 422, "/v0/users", "POST", body={**NEW_USER, "username": "demo"}),
    *_read("getUser", "/v0/users/demo"),
    _case("getUser", 200, "/v0/users/demo", headers=OWNER, note="self"),
    _case("getUser", 401, "/v0/users/demo", headers=BAD),
    _case("getUser", 404, "/v0/users/nobody"),
    _case("getMe", 200, "/v0/me", headers=OWNER),
    _case("getMe", 200, "/v0/me", headers=BASIC, note="basic"),
    _case("getMe", 400, "/v0/me", headers=OWNER, params={"pretty": "maybe"}),
    _case("getMe", 401, "/v0/me"),
    _case("getMe", 406, "/v0/me", headers={**OWNER, **V1}),
    _case("updateMe", 200, "/v0/me", "PATCH", headers=OWNER, body={"city": "Girona"}),
    _case("updateMe", 400, "/v0/me", "PATCH", headers=OWNER, body={"role": "admin"}),
    _case("updateMe", 401, "/v0/me", "PATCH", body={"city": "Girona"}),
    _case("updateMe", 403, "/v0/me", "PATCH", headers=TEST_KEY, body={"city": "Girona"}),
    _case("updateMe", 406, "/v0/me", "PATCH", headers={**OWNER, **V1}, body={}),
    _case("updateMe", 422, "/v0/me", "PATCH", headers=OWNER, body={"email": "nope"}),
    _case("deleteMe", 200, "/v0/me", "DELETE", headers=OWNER),
    _case("deleteMe", 401, "/v0/me", "DELETE"),
    _case("deleteMe", 403, "/v0/me", "DELETE", headers=TEST_KEY),
    _case("deleteMe", 406, "/v0/me", "DELETE", headers={**OWNER, **V1}),
    _case("deleteMe", 400, "/v0/me", "DELETE", headers=OWNER, params=BAD_PRETTY),
    _case("listApiKeys", 200, "/v0/me/api_keys", headers=OWNER),
    _case("listApiKeys", 401, "/v0/me/api_keys"),
    _case("listApiKeys", 403, "/v0/me/api_keys", headers=TEST_KEY),
    _case("listApiKeys", 406, "/v0/me/api_keys", headers={**OWNER, **V1}),
    _case("listApiKeys", 400, "/v0/me/api_keys", headers=OWNER, params=BAD_PRETTY),
    _case("createApiKey", 201, "/v0/me/api_keys", "POST", headers=OWNER, body={"label": "ci"}),
    _case("createApiKey", 401, "/v0/me/api_keys", "POST"),
    _case("createApiKey", 403, "/v0/me/api_keys", "POST", headers=TEST_KEY),
    _case("createApiKey", 406, "/v0/me/api_keys", "POST", headers={**OWNER, **V1}),
    _case("createApiKey", 422, "/v0/me/api_keys", "POST", headers=OWNER, body={"mode": "x"}),
    _case("createApiKey", 400, "/v0/me/api_keys", "POST", headers=OWNER, params=BAD_PRETTY,
          body={"label": "ci"}),
    _case("revokeApiKey", 200, "/v0/me/api_keys/{api_key_id}", "DELETE", headers=OWNER),
    _case("revokeApiKey", 401, "/v0/me/api_keys/{api_key_id}", "DELETE"),
    _case("revokeApiKey", 403, "/v0/me/api_keys/{api_key_id}", "DELETE", headers=TEST_KEY),
    _case("revokeApiKey", 404, "/v0/me/api_keys/{api_key_id}", "DELETE", headers=OTHER),
    _case("revokeApiKey", 406, "/v0/me/api_keys/{api_key_id}", "DELETE",
          headers={**OWNER, **V1}),
    _case("revokeApiKey", 400, "/v0/me/api_keys/{api_key_id}", "DELETE", headers=OWNER,
          params=BAD_PRETTY),
    _case("signIn", 200, "/v0/sessions", "POST", body=SIGN_IN),
    _case("signIn", 400, "/v0/sessions", "POST", body={}),
    _case("signIn", 401, "/v0/sessions", "POST", body={**SIGN_IN, "password": "wrong one"}),
    _case("signIn", 406, "/v0/sessions", "POST", headers=V1, body=SIGN_IN),
    _case("signOut", 200, "/v0/sessions", "DELETE", headers=OWNER),
    _case("signOut", 400, "/v0/sessions", "DELETE", headers=TEST_KEY),
    _case("signOut", 401, "/v0/sessions", "DELETE"),
    _case("signOut", 406, "/v0/sessions", "DELETE", headers={**OWNER, **V1}),
    _case("oauthToken", 200, "/oauth/token", "POST", headers=FORM,
          body=urlencode({"grant_type": "password", **SIGN_IN}).encode()),
    _case("oauthToken", 200, "/oauth/token", "POST", note="refresh",
          body={"grant_type": "refresh_token", "refresh_token": "{refresh_token}"}),
    _case("oauthToken", 400, "/oauth/token", "POST", headers=FORM,
          body=b"grant_type=client_credentials"),
    _case("oauthToken", 406, "/oauth/token", "POST", headers={**FORM, **V1},
          body=b"grant_type=password"),
    _case("oauthRevoke", 200, "/oauth/revoke", "POST", body={"token": "{refresh_token}"}),
    _case("oauthRevoke", 400, "/oauth/revoke", "POST", body={}),
    _case("oauthRevoke", 406, "/oauth/revoke", "POST", headers=V1, body={"token": "x"}),
    _case("validateToken", 200, "/v0/tokens/validate", "POST", body={"token": "{token}"}),
    _case("validateToken", 400, "/v0/tokens/validate", "POST", body={}),
    _case("validateToken", 406, "/v0/tokens/validate", "POST", headers=V1, body={"token": "x"}),
    # `other` has no e-mail address: nothing is mailed from the test.
    _case("requestPasswordReset", 202, "/v0/password_resets", "POST", body={"username": "other"}),
    _case("requestPasswordReset", 202, "/v0/password_resets", "POST",
          params={"email": "nobody@example.org"}, note="unknown"),
    _case("requestPasswordReset", 400, "/v0/password_resets", "POST", body={}),
    _case("requestPasswordReset", 406, "/v0/password_resets", "POST", headers=V1,
          body={"username": "other"}),
    *_read("getPasswordReset", "/v0/password_resets/{reset_token}"),
    _case("getPasswordReset", 404, "/v0/password_resets/nope"),
    _case("usePasswordReset", 200, "/v0/password_resets/{reset_token}", "PATCH",
          body={"password": "a new password"}),
    _case("usePasswordReset", 404, "/v0/password_resets/nope", "PATCH",
          body={"password": "a new password"}),
    _case("usePasswordReset", 406, "/v0/password_resets/{reset_token}", "PATCH", headers=V1,
          body={"password": "a new password"}),
    _case("usePasswordReset", 422, "/v0/password_resets/{reset_token}", "PATCH",
          body={"password": "short"}),
    _case("usePasswordReset", 400, "/v0/password_resets/{reset_token}", "PATCH",
          params=BAD_PRETTY, body={"password": "a new password"}),
]  # fmt: skip
