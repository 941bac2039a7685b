"""Signing in and out, and every form of credential resolving to the same user."""

from __future__ import annotations

import asyncio
import base64
import gzip
import logging
import urllib.parse
import zlib

import orjson
import pytest

from core import tokens
from query import signin
from storage import demo
from tests.integration.query import accounts_support as support
from tests.integration.query.accounts_support import add_device, basic, bearer, sign_in, sign_up

client = support.client
spool = support.spool


async def _me(client, headers=None, params=None):
    return await client.get("/v0/me", headers=headers or {}, params=params or {})


async def test_sign_in_by_username_or_email(client):
    user = await sign_up(client, "kathleen")
    for body in (
        {"username": "kathleen", "password": support.PASSWORD},
        {"username": "Kathleen@Example.org", "password": support.PASSWORD},
        {"email": "kathleen@example.org", "password": support.PASSWORD},
    ):
        response = await client.post("/v0/sessions", json=body)
        assert response.status == 200
        assert response.headers["Cache-Control"] == "no-store"
        answer = await response.json()
        assert answer["token_type"] == "Bearer" and answer["expires_in"] == 7200
        me = await _me(client, bearer(answer["access_token"]))
        assert (await me.json())["id"] == user["id"]


def _sign_in_body(name: str, content_type: str) -> bytes:
    fields = {"username": name, "password": support.PASSWORD}
    if content_type == "application/json":
        return orjson.dumps(fields)
    return urllib.parse.urlencode(fields).encode()


def _compress(data: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.compress(data)
    if encoding == "deflate":
        return zlib.compress(data)
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)  # raw deflate, as some clients send it
    return raw.compress(data) + raw.flush()


@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw deflate"])
async def test_a_compressed_body_signs_in(client, content_type, encoding):
    await sign_up(client, "ada")
    response = await client.post(
        "/v0/sessions",
        data=_compress(_sign_in_body("ada", content_type), encoding),
        headers={"Content-Type": content_type, "Content-Encoding": encoding.split()[-1]},
    )
    assert response.status == 200, await response.text()
    assert (await response.json())["token_type"] == "Bearer"


@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
async def test_a_body_not_in_its_content_encoding_is_a_400(client, content_type, caplog):
    await sign_up(client, "emmy")
    plain = _sign_in_body("emmy", content_type)
    headers = {"Content-Type": content_type, "Content-Encoding": "gzip"}
    response = await client.post("/v0/sessions", data=plain, headers=headers)
    assert response.status == 400  # it was a 500
    error = await response.json()
    assert (error["code"], error["fields"][0]["name"]) == ("invalid_body", "body")
    assert error["message"].startswith("The body is not valid gzip: ")
    # The body was read to its end, so the connection carries the next request.
    assert response.headers.get("Connection") != "close"
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    # The same body gzipped, as it says, signs in.
    response = await client.post("/v0/sessions", data=gzip.compress(plain), headers=headers)
    assert response.status == 200


# aiohttp, decoding bodies itself, answered br and zstd (their libraries are not installed)
# with a plain-text 400 of its own before any handler ran.
@pytest.mark.parametrize("encoding", ["br", "zstd", "compress"])
@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
async def test_an_encoding_not_served_is_a_415(client, content_type, encoding, caplog):
    await sign_up(client, "grace")
    response = await client.post(
        "/v0/sessions",
        data=_sign_in_body("grace", content_type),
        headers={"Content-Type": content_type, "Content-Encoding": encoding},
    )
    assert response.status == 415
    error = await response.json()
    assert error["id"] == "unsupported_media_type"
    assert error["message"] == (
        f"Content-Encoding '{encoding}' is not supported; send the body plain, deflate or gzip"
    )
    assert [r for r in caplog.records if r.name == "aiohttp.server"] == []


async def test_a_compressed_multipart_form_is_a_415(client):
    await sign_up(client, "barbara")
    parts = {"username": "barbara", "password": support.PASSWORD}
    plain = (
        "".join(
            f'--edge\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            for name, value in parts.items()
        ).encode()
        + b"--edge--\r\n"
    )
    multipart = "multipart/form-data; boundary=edge"
    response = await client.post(
        "/v0/sessions",
        data=gzip.compress(plain),
        headers={"Content-Type": multipart, "Content-Encoding": "gzip"},
    )
    assert response.status == 415
    assert "multipart form cannot have a Content-Encoding" in (await response.json())["message"]
    # Sent plain, the same form signs in.
    response = await client.post("/v0/sessions", data=plain, headers={"Content-Type": multipart})
    assert response.status == 200


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_compressed_body_past_the_limit_is_a_413(client, encoding):
    # 64 MiB of JSON whitespace in about 64 KiB: it stops at the 1 MiB limit.
    bomb = _compress(
        b'{"username": "x", "password": "y"' + b" " * (64 * 1024 * 1024) + b"}", encoding
    )
    assert len(bomb) < 1024 * 1024
    response = await client.post(
        "/v0/sessions",
        data=bomb,
        headers={"Content-Type": "application/json", "Content-Encoding": encoding},
    )
    assert response.status == 413
    assert (await response.json())["id"] == "payload_too_large"


async def test_a_form_in_a_charset_python_does_not_know_is_a_400(client):
    await sign_up(client, "mary")
    body = _sign_in_body("mary", "application/x-www-form-urlencoded")
    for compressed in (False, True):
        response = await client.post(
            "/v0/sessions",
            data=gzip.compress(body) if compressed else body,
            headers={
                "Content-Type": "application/x-www-form-urlencoded; charset=no-such-charset",
                **({"Content-Encoding": "gzip"} if compressed else {}),
            },
        )
        assert response.status == 400, await response.text()
        assert (await response.json())["code"] == "invalid_form"


async def test_a_request_aiohttp_cannot_parse_is_one_warning_not_a_traceback(client, caplog):
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(b"POST /v0/sessions HTTP/1.1\r\nHost: x\r\nContent-Length: many\r\n\r\n")
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    assert status_line.split()[1] == b"400"
    logged = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert [(r.levelname, r.exc_info) for r in logged] == [("WARNING", None)]
    assert "answered 400: " in logged[0].getMessage()


async def test_wrong_credentials_say_the_same_whether_or_not_the_user_exists(client):
    await sign_up(client, "hedy")
    answers = []
    for username in ("hedy", "nobody-at-all"):
        response = await client.post(
            "/v0/sessions", json={"username": username, "password": "not the password"}
        )
        assert response.status == 401
        answer = await response.json()
        answers.append((answer["code"], answer["message"]))
    assert answers[0] == answers[1] == ("invalid_credentials", "Invalid username or password")


async def test_sign_in_needs_both_fields(client):
    response = await client.post("/v0/sessions", json={"username": "x"})
    assert response.status == 400
    assert (await response.json())["errors"] == {"password": ["can't be blank"]}


async def test_sign_out_revokes_the_token_presented_only(client):
    await sign_up(client, "barbara")
    first, second = await sign_in(client, "barbara"), await sign_in(client, "barbara")
    response = await client.delete("/v0/sessions", headers=bearer(first))
    assert response.status == 200
    assert (await _me(client, bearer(first))).status == 401
    assert (await _me(client, bearer(second))).status == 200
    assert (await client.delete("/v0/sessions")).status == 401


async def test_every_credential_form_is_the_same_user(client):
    user = await sign_up(client, "frances")
    token = await sign_in(client, "frances")
    response = await client.post("/v0/me/api_keys", headers=bearer(token))
    key = (await response.json())["key"]
    forms = [
        ({"Authorization": f"Bearer {token}"}, None),
        ({"Authorization": f"token {token}"}, None),
        ({"Authorization": f"Token token={token}"}, None),
        ({"Authorization": f'Token token="{token}"'}, None),
        ({}, {"access_token": token}),
        ({"Authorization": f"Bearer {key}"}, None),
        ({"key": key}, None),
        ({}, {"access_token": key}),
        (basic("frances"), None),
        (basic("frances@example.org"), None),
    ]
    for headers, params in forms:
        response = await _me(client, headers, params)
        assert response.status == 200, (headers, params)
        assert (await response.json())["id"] == user["id"]


async def test_access_token_in_the_url_is_for_reads_only(client):
    await sign_up(client, "jean")
    token = await sign_in(client, "jean")
    response = await client.patch("/v0/me", json={"city": "X"}, params={"access_token": token})
    assert response.status == 401


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer " + tokens.new_token()},
        {"Authorization": "Token token=" + tokens.new_token()},
        {"key": "sk_live_" + tokens.new_token()},
        {"Authorization": "Bearer"},
    ],
)
async def test_an_unknown_token_is_401_with_a_bearer_challenge(client, headers):
    response = await client.get("/v0/devices", headers=headers)
    assert response.status == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="sensorium"') and 'error="invalid_token"' in challenge
    assert (await response.json())["code"] == "invalid_token"


async def test_expired_and_revoked_tokens_are_401_never_anonymous(client, db_pool):
    await sign_up(client, "ida")
    expired, revoked = await sign_in(client, "ida"), await sign_in(client, "ida")
    async with db_pool.acquire() as conn:
        await conn.execute(
            "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = $1",
            tokens.hash_token(expired),
        )
        await conn.execute(
            "UPDATE api_tokens SET revoked_at = now() WHERE token_hash = $1",
            tokens.hash_token(revoked),
        )
    for token in (expired, revoked):
        response = await client.get("/v0/devices", headers=bearer(token))
        assert response.status == 401
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


async def test_a_device_token_is_not_a_user_credential(client, db_pool):
    user = await sign_up(client, "mae")
    device_token = tokens.new_token()
    async with db_pool.acquire() as conn:
        device_id = await add_device(conn, user["id"], "Kit")
        await conn.execute(
            "UPDATE devices SET device_token_hash = $2 WHERE id = $1",
            device_id,
            tokens.hash_token(device_token),
        )
    response = await _me(client, bearer(device_token))
    assert response.status == 401
    assert "device" in (await response.json())["message"]


async def test_basic_credentials(client):
    user = await sign_up(client, "annie")
    response = await client.get("/v0/me", headers=basic("annie"))
    assert (await response.json())["id"] == user["id"]
    response = await client.get("/v0/me", headers=basic("annie", "wrong password"))
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith('Basic realm="sensorium"')
    assert (await response.json())["code"] == "invalid_credentials"
    malformed = {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()}
    assert (await client.get("/v0/me", headers=malformed)).status == 401
    assert (await client.get("/v0/me", headers={"Authorization": "Basic %%%"})).status == 401


async def test_basic_checks_are_remembered_briefly_and_only_when_they_succeed(client, monkeypatch):
    await sign_up(client, "radia")
    checks = []
    real = signin.check

    async def counted(account, password):
        checks.append(password)
        return await real(account, password)

    monkeypatch.setattr(signin, "check", counted)
    for _ in range(3):
        assert (await client.get("/v0/me", headers=basic("radia"))).status == 200
    assert checks == [support.PASSWORD]
    for _ in range(2):
        assert (await client.get("/v0/me", headers=basic("radia", "bad password"))).status == 401
    assert checks == [support.PASSWORD, "bad password", "bad password"]


async def test_a_password_change_forgets_remembered_basic_checks(client):
    await sign_up(client, "evelyn")
    assert (await client.get("/v0/me", headers=basic("evelyn"))).status == 200
    body = {"password": "brand new password", "current_password": support.PASSWORD}
    response = await client.patch("/v0/me", json=body, headers=basic("evelyn"))
    assert response.status == 200
    assert (await client.get("/v0/me", headers=basic("evelyn"))).status == 401
    headers = basic("evelyn", "brand new password")
    assert (await client.get("/v0/me", headers=headers)).status == 200


async def test_two_credentials_at_once_are_refused(client):
    await sign_up(client, "sophie")
    token = await sign_in(client, "sophie")
    response = await _me(client, {**bearer(token), "key": token})
    assert response.status == 400


async def test_jsonp_is_refused_with_any_credential(client):
    await sign_up(client, "lise")
    token = await sign_in(client, "lise")
    for headers in (bearer(token), {"key": token}, basic("lise")):
        response = await client.get("/v0/devices", params={"callback": "cb"}, headers=headers)
        assert response.status == 400, headers
    response = await client.get("/v0/devices", params={"callback": "cb"})
    assert response.status == 200


async def test_the_demo_user_signs_in_with_the_seeded_password(client, db_pool):
    async with db_pool.acquire() as conn:
        fleet = await demo.seed(conn)
    token = await sign_in(client, fleet.username, fleet.password)
    response = await client.get("/v0/me", headers=bearer(token))
    assert (await response.json())["username"] == "demo"
    response = await client.get("/v0/me", headers=bearer(fleet.access_token))
    assert response.status == 200
