"""The device registry through the real query app (and the real gateway) on a real database:
creating, editing, deleting devices and rotating their tokens; who may; what a body may name."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from core import tokens
from ingest import app as ingest_app
from ingest import config as ingest_config
from query import geo
from tests.support import eventually

READINGS = {"data": [{"recorded_at": "2024-05-01T10:30:00Z", "sensors": [{"id": 55, "value": 21}]}]}
SCK_2_1 = 26


async def _user(conn, name, role="citizen"):
    return await conn.fetchval(
        "INSERT INTO users (username, role) VALUES ($1, $2) RETURNING id", name, role
    )


async def _token(conn, user_id, *, kind="access", is_test=False):
    prefix = {"access": "", "api_key": "sk_test_" if is_test else "sk_live_"}[kind]
    text = tokens.new_token(prefix)
    await conn.execute(
        "INSERT INTO api_tokens (user_id, token_hash, kind, is_test) VALUES ($1, $2, $3, $4)",
        user_id,
        tokens.hash_token(text),
        kind,
        is_test,
    )
    return {"Authorization": f"Bearer {text}"}


@pytest.fixture
async def people(db_pool):
    """An owner (with a live and a test API key), another citizen and an admin."""
    async with db_pool.acquire() as conn:
        owner = await _user(conn, "owner")
        other = await _user(conn, "other")
        admin = await _user(conn, "admin", "admin")
        return SimpleNamespace(
            owner_id=owner,
            owner=await _token(conn, owner),
            owner_test=await _token(conn, owner, kind="api_key", is_test=True),
            other=await _token(conn, other),
            admin=await _token(conn, admin),
        )


@pytest.fixture
async def client(query_app, aiohttp_client):
    return await aiohttp_client(query_app())


@pytest.fixture
def gateway(db_settings, aiohttp_client):
    """A fresh gateway client (its caches start empty)."""

    async def make():
        settings = ingest_config.IngestSettings(db=db_settings, cache_ttl_s=0.001)
        return await aiohttp_client(ingest_app.create_app(settings, on_fatal=_fatal))

    return make


def _fatal():
    raise AssertionError("a gateway background task died")


async def _create(client, headers, **fields):
    body = {"name": "Balcony", "mac_address": "02:00:00:00:aa:01", **fields}
    response = await client.post("/v0/devices", json=body, headers=headers)
    assert response.status == 201, await response.text()
    return await response.json()


async def test_a_signed_in_user_creates_a_device_and_gets_its_token_once(
    client, people, db_pool, gateway
):
    response = await client.post(
        "/v0/devices",
        json={
            "name": "  Balcony ",
            "mac_address": "02-00-00-00-AA-01",
            "description": "SCK on the balcony",
            "kit_id": SCK_2_1,
            "exposure": "outdoor",
            "latitude": 41.403629,
            "longitude": 2.156487,
            "user_tags": ["roof", "noisy", "roof"],
        },
        headers=people.owner,
    )
    assert response.status == 201, await response.text()
    body = await response.json()
    assert response.headers["Location"] == f"/v0/devices/{body['id']}"
    assert body["name"] == "Balcony"
    assert body["mac_address"] == "02:00:00:00:aa:01"  # normalised, shown to the owner
    assert body["owner"]["id"] == people.owner_id
    assert body["kit"]["id"] == SCK_2_1
    assert body["latitude"] == 41.403629  # the owner sees the precise location
    assert body["user_tags"] == ["roof", "noisy"]
    assert body["data_policy"]["is_private"] is False
    token = body["device_token"]
    assert len(token) >= 43
    async with db_pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM devices WHERE id = $1", body["id"])
    assert row["device_token_hash"] == tokens.hash_token(token)  # only its hash is kept
    assert row["is_test"] is False and row["owner_id"] == people.owner_id
    # Shown once: every later document filters it.
    again = await (await client.get(f"/v0/devices/{body['id']}", headers=people.owner)).json()
    assert again["device_token"] == "[FILTERED]"
    # Others see the public document: MAC filtered, location rounded.
    public = await (await client.get(f"/v0/devices/{body['id']}")).json()
    assert public["mac_address"] == "[FILTERED]"
    assert (public["latitude"], public["longitude"]) == (41.404, 2.156)
    # The token posts readings.
    posted = await (await gateway()).post(
        f"/v0/devices/{body['id']}/readings",
        json=READINGS,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert posted.status == 200, await posted.text()


async def test_a_form_creates_a_private_device_with_comma_separated_tags(client, people):
    response = await client.post(
        "/v0/devices",
        data={
            "name": "Kitchen",
            "mac_address": "020000000002",
            "user_tags": "indoor air, kitchen",
            "is_private": "true",
            "precise_location": "1",
            "latitude": "53.4841",
            "longitude": "-2.225",
            "exposure": "indoor",
        },
        headers=people.owner,
    )
    assert response.status == 201, await response.text()
    body = await response.json()
    assert body["mac_address"] == "02:00:00:00:00:02"
    assert body["user_tags"] == ["indoor air", "kitchen"]
    assert body["data_policy"] == {
        "is_private": True,
        "precise_location": True,
        "enable_forwarding": False,
        "forwarding_destination": None,
    }
    assert (body["latitude"], body["longitude"]) == (53.4841, -2.225)
    assert (await client.get(f"/v0/devices/{body['id']}")).status == 404
    assert (await client.get(f"/v0/devices/{body['id']}", headers=people.other)).status == 404
    assert (await client.get(f"/v0/devices/{body['id']}", headers=people.admin)).status == 200


async def test_creating_needs_a_signed_in_user(client, people):
    response = await client.post(
        "/v0/devices", json={"name": "x", "mac_address": "02:00:00:00:00:09"}
    )
    assert response.status == 401
    assert (await response.json())["code"] == "missing_credentials"


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"mac_address": "02:00:00:00:00"}, {"mac_address"}),
        ({"mac_address": "zz:00:00:00:00:01"}, {"mac_address"}),
        ({"mac_address": "02:00-00:00:00:01"}, {"mac_address"}),
        ({"mac_address": None}, {"mac_address"}),
        ({"name": None}, {"name"}),
        ({"name": "   "}, {"name"}),
        ({"name": "x" * 101}, {"name"}),
        ({"kit_id": 999_999}, {"kit_id"}),
        ({"kit_id": "sck"}, {"kit_id"}),
        ({"latitude": 90.5, "longitude": 2}, {"latitude"}),
        ({"latitude": 41, "longitude": -180.01}, {"longitude"}),
        ({"latitude": "NaN", "longitude": 2}, {"latitude"}),
        ({"latitude": "\u0664\u0661", "longitude": 2}, {"latitude"}),  # 41, Arabic-Indic
        ({"latitude": 41}, {"longitude"}),
        ({"exposure": "underwater"}, {"exposure"}),
        ({"user_tags": [1, 2]}, {"user_tags"}),
        ({"is_private": "maybe"}, {"is_private"}),
        ({"name": "", "exposure": "attic", "latitude": True}, {"name", "exposure", "latitude"}),
    ],
)
async def test_invalid_fields_are_a_422_naming_each(client, people, db_pool, fields, named):
    body = {"name": "Balcony", "mac_address": "02:00:00:00:aa:01", **fields}
    response = await client.post("/v0/devices", json=body, headers=people.owner)
    assert response.status == 422, await response.text()
    error = await response.json()
    assert error["code"] == "validation_failed"
    assert {f["name"] for f in error["fields"]} == named
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM devices") == 0


# Digits of other scripts are no kit id: "٢٦" was kit 26, and "²" a message from int().
@pytest.mark.parametrize("kit_id", ["\u0662\u0666", "\u00b2"])
async def test_a_kit_id_in_a_string_is_ascii_digits(client, people, db_pool, kit_id):
    body = {"name": "Balcony", "mac_address": "02:00:00:00:aa:01", "kit_id": kit_id}
    response = await client.post("/v0/devices", json=body, headers=people.owner)
    assert response.status == 422, await response.text()
    assert (await response.json())["message"] == (
        "The device is not valid: kit_id must be the id of a kit"
    )
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM devices") == 0
    # The ASCII spelling of the same id is a kit.
    body["kit_id"] = str(SCK_2_1)
    assert (await client.post("/v0/devices", json=body, headers=people.owner)).status == 201


async def test_a_mac_address_belongs_to_one_live_device(client, people):
    first = await _create(client, people.owner, mac_address="02:00:00:00:aa:01")
    response = await client.post(
        "/v0/devices",
        json={"name": "Copy", "mac_address": "02:00:00:00:AA:01"},
        headers=people.other,
    )
    assert response.status == 422
    assert [f["name"] for f in (await response.json())["fields"]] == ["mac_address"]
    # Once the first is deleted, its MAC address is free again.
    deleted = await client.delete(f"/v0/devices/{first['id']}", headers=people.owner)
    assert deleted.status == 200
    await _create(client, people.other, mac_address="02:00:00:00:aa:01")


async def test_a_test_key_creates_test_devices_only_test_keys_see(client, people, db_pool):
    body = await _create(client, people.owner_test)
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT is_test FROM devices WHERE id = $1", body["id"])
    path = f"/v0/devices/{body['id']}"
    assert (await client.get(path, headers=people.owner_test)).status == 200
    for live in ({}, people.owner, people.admin):
        assert (await client.get(path, headers=live)).status == 404
        listed = await (await client.get("/v0/devices", headers=live)).json()
        assert body["id"] not in [d["id"] for d in listed]
        found = await (await client.get("/v0/search", params={"q": "balcony"}, headers=live)).json()
        assert found == []
    listed = await (await client.get("/v0/devices", headers=people.owner_test)).json()
    assert [d["id"] for d in listed] == [body["id"]]
    # The live owner cannot edit it either: it is not live data.
    response = await client.patch(path, json={"name": "x"}, headers=people.owner)
    assert response.status == 404


async def test_the_owner_and_admins_edit_the_writable_fields(client, people, db_pool):
    device = await _create(client, people.owner, latitude=41.403629, longitude=2.156487)
    path = f"/v0/devices/{device['id']}"
    response = await client.patch(
        path,
        json={
            "name": "Roof",
            "description": None,
            "exposure": "indoor",
            "latitude": 41.5,
            "longitude": 2.25,
            "elevation": 120,
            "user_tags": "a,b",
            "precise_location": True,
            "kit_id": SCK_2_1,
            "mac_address": "02:00:00:00:BB:02",
        },
        headers=people.owner,
    )
    assert response.status == 200, await response.text()
    body = await response.json()
    assert (body["name"], body["exposure"], body["latitude"], body["longitude"]) == (
        "Roof",
        "indoor",
        41.5,
        2.25,
    )
    assert body["location"]["elevation"] == 120
    assert body["user_tags"] == ["a", "b"]
    assert body["mac_address"] == "02:00:00:00:bb:02"
    response = await client.patch(path, data={"is_private": "true"}, headers=people.admin)
    assert response.status == 200
    assert (await response.json())["data_policy"]["is_private"] is True
    async with db_pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM devices WHERE id = $1", device["id"])
    assert (row["name"], row["is_private"], row["owner_id"]) == ("Roof", True, people.owner_id)
    # Half a location is not a location.
    response = await client.patch(path, json={"latitude": None}, headers=people.owner)
    assert response.status == 422
    assert [f["name"] for f in (await response.json())["fields"]] == ["latitude"]


async def test_who_may_edit(client, people):
    public = await _create(client, people.owner, mac_address="02:00:00:00:00:01")
    private = await _create(client, people.owner, mac_address="02:00:00:00:00:02", is_private=True)
    change = {"name": "mine now"}
    for method in ("patch", "delete"):
        for device, status in ((public, 403), (private, 404)):
            path = f"/v0/devices/{device['id']}"
            response = await client.request(method, path, json=change, headers=people.other)
            assert response.status == status, (method, device["name"])
            anonymous = await client.request(method, path, json=change)
            assert anonymous.status == 401
    response = await client.post(f"/v0/devices/{public['id']}/token", headers=people.other)
    assert response.status == 403
    # Who may not edit learns nothing of what is wrong with the body.
    for device, status in ((public, 403), (private, 404)):
        response = await client.patch(
            f"/v0/devices/{device['id']}",
            data=b"{not json",
            headers={**people.other, "Content-Type": "application/json"},
        )
        assert response.status == status
    assert (
        await client.patch("/v0/devices/999999", json=change, headers=people.admin)
    ).status == 404
    assert (await client.patch("/v0/devices/nope", json=change, headers=people.admin)).status == 404
    for other_digits in ("%C2%B2", "%D9%A1%D9%A2"):  # "²", and "١٢" (12) in Arabic-Indic digits
        path = f"/v0/devices/{other_digits}"
        answer = await client.patch(path, json=change, headers=people.admin)
        assert answer.status == 404
        assert (await answer.json())["code"] == "device_not_found"


@pytest.mark.parametrize(
    "fields",
    [
        {"owner_id": 2},
        {"id": 5},
        {"uuid": "00000000-0000-0000-0000-000000000000"},
        {"device_token": "abc"},
        {"device_token_hash": "abc"},
        {"created_at": "2020-01-01T00:00:00Z"},
        {"updated_at": "2020-01-01T00:00:00Z"},
        {"last_reading_at": "2020-01-01T00:00:00Z"},
        {"role": "admin"},
        {"is_test": True},
        {"access_token": "x"},
        {"colour": "blue"},
    ],
)
async def test_a_body_naming_a_field_that_is_not_writable_changes_nothing(
    client, people, db_pool, fields
):
    device = await _create(client, people.owner)
    async with db_pool.acquire() as conn:
        before = dict(await conn.fetchrow("SELECT * FROM devices WHERE id = $1", device["id"]))
    body = {"name": "Changed", **fields}  # a writable field too: it must not be written either
    for headers in (people.owner, people.admin):
        response = await client.patch(f"/v0/devices/{device['id']}", json=body, headers=headers)
        assert response.status == 400, await response.text()
        error = await response.json()
        assert [f["name"] for f in error["fields"]] == list(fields)
    async with db_pool.acquire() as conn:
        after = dict(await conn.fetchrow("SELECT * FROM devices WHERE id = $1", device["id"]))
    assert after == before


async def test_every_read_only_field_is_named(client, people):
    device = await _create(client, people.owner)
    body = {"owner_id": 2, "is_test": True, "device_token": "x", "color": 1, "name": "ok"}
    response = await client.patch(f"/v0/devices/{device['id']}", json=body, headers=people.owner)
    assert response.status == 400
    error = await response.json()
    assert {f["name"]: f["message"] for f in error["fields"]} == {
        "owner_id": "owner_id is read-only",
        "is_test": "is_test is read-only",
        "device_token": "device_token is read-only",
        "color": "color is not a field of a device",
    }
    # Creating refuses them the same way.
    response = await client.post(
        "/v0/devices",
        json={"name": "x", "mac_address": "02:00:00:00:00:07", "owner_id": 1},
        headers=people.owner,
    )
    assert response.status == 400


async def test_deleting_removes_the_device_everywhere_at_once(client, people, db_pool, gateway):
    device = await _create(client, people.owner, latitude=41.4, longitude=2.15, exposure="outdoor")
    token, path = device["device_token"], f"/v0/devices/{device['id']}"
    posted = await (await gateway()).post(
        f"{path}/readings", json=READINGS, headers={"Authorization": f"Bearer {token}"}
    )
    assert posted.status == 200
    async with db_pool.acquire() as conn:  # as a worker would, so the world map shows it
        await conn.execute(
            "INSERT INTO latest_readings (device_id, sensor_id, time, raw_value, value)"
            " VALUES ($1, 55, now(), 21, 21)",
            device["id"],
        )
        await conn.execute(
            "UPDATE devices SET last_reading_at = now(), last_posted_at = now() WHERE id = $1",
            device["id"],
        )

    async def on_map():
        world = await (await client.get("/v0/devices/world_map")).json()
        return device["id"] in [d["id"] for d in world]

    await eventually(on_map, what="the device on the world map")
    response = await client.delete(path, headers=people.owner)
    assert response.status == 200
    assert (await response.json())["id"] == device["id"]
    for headers in ({}, people.owner, people.admin):
        assert (await client.get(path, headers=headers)).status == 404
        history = await client.get(
            f"{path}/readings", params={"sensor_id": "55", "rollup": "1h"}, headers=headers
        )
        assert history.status == 404
        listed = await (await client.get("/v0/devices", headers=headers)).json()
        assert device["id"] not in [d["id"] for d in listed]
        found = await client.get("/v0/search", params={"q": "balcony"}, headers=headers)
        assert await found.json() == []
    fresh = await (await client.get("/v0/devices/fresh_world_map", headers=people.owner)).json()
    assert device["id"] not in [d["id"] for d in fresh]

    async def off_map():
        return not await on_map()

    await eventually(off_map, what="the device leaving the world map")
    assert (await client.delete(path, headers=people.owner)).status == 404
    assert (await client.patch(path, json={"name": "x"}, headers=people.owner)).status == 404
    refused = await (await gateway()).post(
        f"{path}/readings", json=READINGS, headers={"Authorization": f"Bearer {token}"}
    )
    assert refused.status == 404
    async with db_pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM devices WHERE id = $1", device["id"])
    assert row["deleted_at"] is not None and row["device_token_hash"] is None


async def test_rotating_the_token_retires_the_old_one(client, people, gateway):
    device = await _create(client, people.owner)
    old = device["device_token"]
    response = await client.post(f"/v0/devices/{device['id']}/token", headers=people.admin)
    assert response.status == 200
    body = await response.json()
    new = body["device_token"]
    assert new != old and body["id"] == device["id"]
    ingest = await gateway()
    path = f"/v0/devices/{device['id']}/readings"
    refused = await ingest.post(path, json=READINGS, headers={"Authorization": f"Bearer {old}"})
    assert refused.status == 401
    accepted = await ingest.post(path, json=READINGS, headers={"Authorization": f"Bearer {new}"})
    assert accepted.status == 200


async def test_others_see_coordinates_rounded_and_near_uses_them(client, people):
    device = await _create(client, people.owner, latitude=41.40349, longitude=2.15649)
    public = await (await client.get(f"/v0/devices/{device['id']}")).json()
    rounded = (41.403, 2.156)
    assert (public["latitude"], public["longitude"]) == rounded
    assert public["location"]["geohash"] == geo.geohash(*rounded)
    own = await (await client.get(f"/v0/devices/{device['id']}", headers=people.owner)).json()
    assert own["location"]["geohash"] == geo.geohash(41.40349, 2.15649)
    # 10 m around the precise spot: only the owner's distance is computed from it.
    near = {"near": "41.40349,2.15649", "within": "0.01"}
    for headers, listed in (({}, []), (people.other, []), (people.owner, [device["id"]])):
        found = await (await client.get("/v0/devices", params=near, headers=headers)).json()
        assert [d["id"] for d in found] == listed
        for shown in found:
            assert shown["latitude"] == 41.40349
    around = {"near": "41.403,2.156", "within": "0.01"}
    found = await (await client.get("/v0/devices", params=around)).json()
    assert [(d["latitude"], d["longitude"]) for d in found] == [rounded]


async def test_form_tags_may_repeat_and_json_may_be_a_merge_patch(client, people):
    form = [("name", "Tags"), ("mac_address", "02:00:00:00:00:05")]
    form += [("user_tags[]", "a"), ("user_tags[]", "b")]
    response = await client.post("/v0/devices", data=form, headers=people.owner)
    assert response.status == 201, await response.text()
    device = await response.json()
    assert device["user_tags"] == ["a", "b"]
    mixed = [*form, ("user_tags", "c")]
    response = await client.post("/v0/devices", data=mixed, headers=people.owner)
    assert response.status == 400
    response = await client.patch(
        f"/v0/devices/{device['id']}",
        data=b'{"description": "merge"}',
        headers={**people.owner, "Content-Type": "application/merge-patch+json"},
    )
    assert response.status == 200
    assert (await response.json())["description"] == "merge"
    response = await client.patch(
        f"/v0/devices/{device['id']}",
        data=b"[1, 2]",
        headers={**people.owner, "Content-Type": "application/json"},
    )
    assert response.status == 400


async def test_documents_round_as_the_listing_filters_do(client, people):
    device = await _create(client, people.owner, latitude=41.4035, longitude=2.1565)
    public = await (await client.get(f"/v0/devices/{device['id']}")).json()
    assert (public["latitude"], public["longitude"]) == (41.404, 2.157)
    found = await client.get("/v0/devices", params={"q[longitude_eq]": "2.157"})
    assert [(d["id"], d["longitude"]) for d in await found.json()] == [(device["id"], 2.157)]
