"""Users: sign-up, listing and pages in the v0 shape, /v0/me, and deleting an account."""

from __future__ import annotations

import pytest

from tests.integration.query import accounts_support as support
from tests.integration.query.accounts_support import add_device, bearer, sign_in, sign_up

client = support.client
spool = support.spool


async def test_sign_up_answers_the_v0_document_with_the_email(client):
    user = await sign_up(
        client, "ada", first_name="Ada", city="London", country_code="gb", url="https://ada.example"
    )
    assert user == {
        "id": user["id"],
        "uuid": user["uuid"],
        "role": "citizen",
        "username": "ada",
        "avatar": None,
        "first_name": "Ada",
        "last_name": None,
        "location": {"city": "London", "country": None, "country_code": "GB"},
        "url": "https://ada.example",
        "joined_at": user["joined_at"],
        "updated_at": user["updated_at"],
        "devices": [],
        "email": "ada@example.org",
    }


async def test_sign_up_takes_a_form_body(client):
    form = {"username": "grace", "email": "grace@example.org", "password": "hopper-1906"}
    response = await client.post("/v0/users", data=form)
    assert response.status == 201, await response.text()
    assert response.headers["Location"].endswith(f"/v0/users/{(await response.json())['id']}")
    assert await sign_in(client, "grace", "hopper-1906")


@pytest.mark.parametrize(
    ("body", "problems"),
    [
        ({}, {"username", "email", "password"}),
        ({"username": "ab", "email": "x@example.org", "password": "long enough"}, {"username"}),
        ({"username": "12345", "email": "x@example.org", "password": "long enough"}, {"username"}),
        ({"username": "bad name", "email": "nope", "password": "short"}, {"username", "email",
                                                                          "password"}),
        ({"username": "fine", "email": "x@example.org", "password": 12345678}, {"password"}),
        ({"username": "fine", "email": "x@example.org", "password": "long enough",
          "country_code": "Spain", "url": "javascript:alert(1)"}, {"country_code", "url"}),
    ],
)  # fmt: skip
async def test_invalid_sign_ups_name_each_field(client, body, problems):
    response = await client.post("/v0/users", json=body)
    assert response.status == 422
    error = await response.json()
    assert error["id"] == "unprocessable_entity" and error["code"] == "validation_failed"
    assert {field["name"] for field in error["fields"]} == problems
    assert set(error["errors"]) == problems


async def test_a_taken_username_or_email_is_a_field_error(client):
    await sign_up(client, "linus", email="linus@example.org")
    body = {"username": "LINUS", "email": "Linus@Example.org", "password": "long enough"}
    response = await client.post("/v0/users", json=body)
    assert response.status == 422
    assert (await response.json())["errors"] == {
        "username": ["has already been taken"],
        "email": ["has already been taken"],
    }


async def test_sign_up_may_not_set_read_only_fields(client):
    body = {"username": "eve", "email": "e@example.org", "password": "long enough", "role": "admin"}
    response = await client.post("/v0/users", json=body)
    assert response.status == 400
    assert (await response.json())["errors"] == {"role": ["is read-only"]}


async def test_the_user_page_by_id_or_username_hides_the_email(client):
    user = await sign_up(client, "margaret")
    for key in (str(user["id"]), "margaret", "MARGARET"):
        response = await client.get(f"/v0/users/{key}")
        assert response.status == 200
        page = await response.json()
        assert page["id"] == user["id"] and "email" not in page
    assert (await client.get("/v0/users/nobody")).status == 404
    assert (await client.get("/v0/users/99999999")).status == 404


async def test_private_devices_only_for_their_owner_and_test_devices_only_for_test_keys(
    client, db_pool
):
    owner = await sign_up(client, "owner")
    await sign_up(client, "stranger")
    async with db_pool.acquire() as conn:
        public = await add_device(conn, owner["id"], "Public")
        private = await add_device(conn, owner["id"], "Private", is_private=True)
        test = await add_device(conn, owner["id"], "Test", is_test=True)
    path = f"/v0/users/{owner['id']}"

    async def device_ids(headers=None):
        response = await client.get(path, headers=headers or {})
        assert response.status == 200
        return [device["id"] for device in (await response.json())["devices"]]

    assert await device_ids() == [public]
    assert await device_ids(bearer(await sign_in(client, "stranger"))) == [public]
    owner_token = await sign_in(client, "owner")
    assert await device_ids(bearer(owner_token)) == [public, private]
    response = await client.post(
        "/v0/me/api_keys", json={"mode": "test"}, headers=bearer(owner_token)
    )
    test_key = (await response.json())["key"]
    assert await device_ids(bearer(test_key)) == [test]
    response = await client.get(path, headers=bearer(owner_token))
    device = (await response.json())["devices"][0]
    assert device["mac_address"].startswith("02:00") and device["latitude"] == 41.403629
    response = await client.get(path)
    device = (await response.json())["devices"][0]
    assert device["mac_address"] == "[FILTERED]" and device["latitude"] == 41.404


async def test_listing_is_paginated_and_filtered_without_emails(client):
    for name, city in (("anna", "Girona"), ("bruno", "Girona"), ("carla", "Lyon")):
        await sign_up(client, name, city=city)
    response = await client.get(
        "/v0/users", params={"q[city_eq]": "Girona", "q[sort]": "username desc", "per_page": "1"}
    )
    assert response.status == 200
    assert response.headers["Total"] == "2" and 'rel="next"' in response.headers["Link"]
    [user] = await response.json()
    assert user["username"] == "bruno" and "email" not in user
    response = await client.get("/v0/users", params={"q[username_start]": "car"})
    assert [u["username"] for u in await response.json()] == ["carla"]


@pytest.mark.parametrize("name", ["email_eq", "password_hash_eq", "role_eq", "token_eq"])
async def test_secret_or_unknown_fields_are_not_filterable(client, name):
    response = await client.get("/v0/users", params={f"q[{name}]": "x"})
    assert response.status == 400
    assert (await response.json())["code"] == "invalid_filter"


async def test_me_needs_a_credential_and_shows_the_email(client):
    await sign_up(client, "mary")
    assert (await client.get("/v0/me")).status == 401
    response = await client.get("/v0/me", headers=bearer(await sign_in(client, "mary")))
    assert response.status == 200
    assert (await response.json())["email"] == "mary@example.org"


async def test_patch_me_changes_writable_fields(client):
    await sign_up(client, "alan")
    token = await sign_in(client, "alan")
    response = await client.patch(
        "/v0/me", json={"city": "Manchester", "username": "turing"}, headers=bearer(token)
    )
    assert response.status == 200, await response.text()
    me = await response.json()
    assert me["username"] == "turing" and me["location"]["city"] == "Manchester"
    assert (await client.get("/v0/users/turing")).status == 200


async def test_patch_me_refuses_read_only_fields_and_changes_nothing(client):
    await sign_up(client, "rosalind")
    token = await sign_in(client, "rosalind")
    body = {"city": "Paris", "id": 1, "role": "admin", "owner_id": 2, "created_at": "x",
            "tokens": []}  # fmt: skip
    response = await client.patch("/v0/me", json=body, headers=bearer(token))
    assert response.status == 400
    error = await response.json()
    assert {f["name"] for f in error["fields"]} == {
        "id",
        "role",
        "owner_id",
        "created_at",
        "tokens",
    }
    assert all(f["message"] == "is read-only" for f in error["fields"])
    me = await (await client.get("/v0/me", headers=bearer(token))).json()
    assert me["role"] == "citizen" and me["location"]["city"] is None


async def test_a_new_password_needs_the_current_one(client):
    await sign_up(client, "dorothy")
    token = await sign_in(client, "dorothy")
    other_session = await sign_in(client, "dorothy")
    new = {"password": "a new password"}
    response = await client.patch("/v0/me", json=new, headers=bearer(token))
    assert response.status == 422
    assert "current_password" in (await response.json())["errors"]
    wrong = {**new, "current_password": "not it at all"}
    assert (await client.patch("/v0/me", json=wrong, headers=bearer(token))).status == 422
    right = {**new, "current_password": support.PASSWORD}
    assert (await client.patch("/v0/me", json=right, headers=bearer(token))).status == 200
    assert await sign_in(client, "dorothy", "a new password")
    # The session that changed it goes on; the others end.
    assert (await client.get("/v0/me", headers=bearer(token))).status == 200
    assert (await client.get("/v0/me", headers=bearer(other_session))).status == 401


async def test_deleting_me_hides_the_user_everywhere_and_revokes_every_token(client):
    user = await sign_up(client, "ghost", city="Nowhere")
    token = await sign_in(client, "ghost")
    key = (await (await client.post("/v0/me/api_keys", headers=bearer(token))).json())["key"]
    response = await client.delete("/v0/me", headers=bearer(token))
    assert response.status == 200
    assert await response.json() == {"id": user["id"], "object": "user", "deleted": True}
    assert (await client.get(f"/v0/users/{user['id']}")).status == 404
    assert (await client.get("/v0/users/ghost")).status == 404
    assert await (await client.get("/v0/users")).json() == []
    assert await (await client.get("/v0/search", params={"q": "ghost"})).json() == []
    for credential in (token, key):
        response = await client.get("/v0/me", headers=bearer(credential))
        assert response.status == 401
    response = await client.post(
        "/v0/sessions", json={"username": "ghost", "password": support.PASSWORD}
    )
    assert response.status == 401


async def test_deleting_me_deletes_my_devices(client, db_pool):
    user = await sign_up(client, "leaving")
    token = await sign_in(client, "leaving")
    async with db_pool.acquire() as conn:
        device = await add_device(conn, user["id"], "balcony")
        await conn.execute("UPDATE devices SET device_token_hash = '\\x01' WHERE id = $1", device)
    assert (await client.get(f"/v0/devices/{device}")).status == 200
    assert (await client.delete("/v0/me", headers=bearer(token))).status == 200
    assert (await client.get(f"/v0/devices/{device}")).status == 404
    async with db_pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT deleted_at, device_token_hash FROM devices WHERE id = $1", device
        )
    assert row["deleted_at"] is not None
    assert row["device_token_hash"] is None


async def test_a_new_email_needs_the_current_password(client):
    await sign_up(client, "katherine")
    token = await sign_in(client, "katherine")
    new = {"email": "kj@example.org"}
    response = await client.patch("/v0/me", json=new, headers=bearer(token))
    assert response.status == 422
    assert (await response.json())["errors"] == {
        "current_password": ["is needed to change the e-mail address"]
    }
    same = {"email": "katherine@example.org", "city": "Hampton"}
    assert (await client.patch("/v0/me", json=same, headers=bearer(token))).status == 200
    right = {**new, "current_password": support.PASSWORD}
    response = await client.patch("/v0/me", json=right, headers=bearer(token))
    assert (await response.json())["email"] == "kj@example.org"


async def test_an_admin_sees_emails_and_private_devices(client, db_pool):
    owner = await sign_up(client, "hidden")
    await sign_up(client, "boss")
    async with db_pool.acquire() as conn:
        await conn.execute("UPDATE users SET role = 'admin' WHERE username = 'boss'")
        private = await add_device(conn, owner["id"], "Private", is_private=True)
    response = await client.get("/v0/users/hidden", headers=bearer(await sign_in(client, "boss")))
    page = await response.json()
    assert page["email"] == "hidden@example.org"
    assert [device["id"] for device in page["devices"]] == [private]
    listed = await (await client.get("/v0/users", headers=support.basic("boss"))).json()
    assert {user["email"] for user in listed} == {"hidden@example.org", "boss@example.org"}
