"""API keys: `sk_live_`/`sk_test_`, shown once, listed without the key, revoked by their owner;
accepted by the query service and by the ingest gateway."""

from __future__ import annotations

import re

import pytest

from ingest import app as ingest_app
from ingest import config as ingest_config
from tests.integration.query import accounts_support as support
from tests.integration.query.accounts_support import add_device, bearer, sign_in, sign_up

client = support.client
spool = support.spool

KEY = re.compile(r"sk_(live|test)_[A-Za-z0-9_-]{43}")


@pytest.fixture
async def owner(client):
    user = await sign_up(client, "keymaker")
    return {"user": user, "token": await sign_in(client, "keymaker")}


async def _create(client, token, **body):
    response = await client.post("/v0/me/api_keys", json=body, headers=bearer(token))
    return response.status, await response.json()


async def test_a_new_key_is_shown_once(client, owner):
    status, created = await _create(client, owner["token"], label="station")
    assert status == 201
    assert set(created) == {
        "id", "object", "label", "mode", "key", "last_four", "created_at", "revoked_at"
    }  # fmt: skip
    assert created["object"] == "api_key" and created["mode"] == "live"
    assert KEY.fullmatch(created["key"]) and created["key"].startswith("sk_live_")
    assert created["last_four"] == created["key"][-4:]
    status, test = await _create(client, owner["token"], label="ci", mode="test")
    assert test["key"].startswith("sk_test_") and test["mode"] == "test"
    response = await client.get("/v0/me/api_keys", headers=bearer(owner["token"]))
    listed = await response.json()
    assert [key["id"] for key in listed] == [created["id"], test["id"]]
    assert all("key" not in key for key in listed)
    assert listed[0] == {k: v for k, v in created.items() if k != "key"}


async def test_form_bodies_and_bad_modes(client, owner):
    response = await client.post(
        "/v0/me/api_keys", data={"label": "form", "mode": "test"}, headers=bearer(owner["token"])
    )
    assert response.status == 201
    status, error = await _create(client, owner["token"], mode="staging")
    assert status == 422 and error["errors"] == {"mode": ["must be live or test"]}


async def test_revoking_a_key_is_for_its_owner_only(client, owner):
    _, created = await _create(client, owner["token"])
    key_headers = bearer(created["key"])
    assert (await client.get("/v0/me", headers=key_headers)).status == 200
    await sign_up(client, "intruder")
    intruder = await sign_in(client, "intruder")
    path = f"/v0/me/api_keys/{created['id']}"
    assert (await client.delete(path, headers=bearer(intruder))).status == 404
    assert (await client.get("/v0/me", headers=key_headers)).status == 200
    response = await client.delete(path, headers=bearer(owner["token"]))
    assert response.status == 200
    assert (await response.json())["revoked_at"] is not None
    assert (await client.get("/v0/me", headers=key_headers)).status == 401
    assert (
        await client.delete("/v0/me/api_keys/nope", headers=bearer(owner["token"]))
    ).status == 404
    assert (await client.delete(path)).status == 401


async def test_a_test_key_signs_in_a_test_user_who_cannot_manage_keys(client, owner):
    _, test = await _create(client, owner["token"], mode="test")
    headers = {"key": test["key"]}
    me = await client.get("/v0/me", headers=headers)
    assert (await me.json())["id"] == owner["user"]["id"]
    for method, path in (("POST", "/v0/me/api_keys"), ("GET", "/v0/me/api_keys"),
                         ("DELETE", f"/v0/me/api_keys/{test['id']}"), ("DELETE", "/v0/me"),
                         ("PATCH", "/v0/me")):  # fmt: skip
        response = await client.request(method, path, headers=headers, json={})
        assert response.status == 403, (method, path)
        assert (await response.json())["code"] == "test_key"


async def test_a_live_key_may_create_keys(client, owner):
    _, live = await _create(client, owner["token"])
    status, created = await _create(client, live["key"], label="made by a key")
    assert status == 201 and created["mode"] == "live"


async def test_the_gateway_takes_a_key_header_and_refuses_basic(
    client, owner, db_pool, db_settings, aiohttp_client
):
    async with db_pool.acquire() as conn:
        live_device = await add_device(conn, owner["user"]["id"], "Live")
        test_device = await add_device(conn, owner["user"]["id"], "Test", is_test=True)
    _, live = await _create(client, owner["token"])
    _, test = await _create(client, owner["token"], mode="test")
    gateway = await aiohttp_client(
        ingest_app.create_app(ingest_config.IngestSettings(db=db_settings), on_fatal=_fatal)
    )
    body = {"data": [{"recorded_at": "2024-05-01T10:00:00Z", "sensors": [{"id": 55, "value": 1}]}]}

    async def post(device_id, headers):
        response = await gateway.post(
            f"/v0/devices/{device_id}/readings", json=body, headers=headers
        )
        return response.status, await response.json()

    assert (await post(live_device, {"key": live["key"]}))[0] == 200
    assert (await post(test_device, {"key": test["key"]}))[0] == 200
    assert (await post(live_device, {"key": test["key"]}))[0] == 403
    status, error = await post(live_device, support.basic("keymaker"))
    assert status == 401 and "Basic" in error["message"]


def _fatal():
    raise AssertionError("a gateway background task died")
