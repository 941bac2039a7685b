"""GET /v0/devices through the real query app: documents, privacy, pagination, near, tags."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core import passwords, tokens
from storage import demo


@pytest.fixture
async def fleet(db_pool, monkeypatch):
    # The demo user's password is hashed with argon2 (a third of a second): not under test here.
    monkeypatch.setattr(passwords, "hash_password", lambda password: "not-a-hash")
    async with db_pool.acquire() as conn:
        return await demo.seed(conn)


@pytest.fixture
async def client(query_app, aiohttp_client):
    return await aiohttp_client(query_app())


async def _user_with_token(db_pool, username, role="citizen"):
    token = tokens.new_token()
    async with db_pool.acquire() as conn:
        user_id = await conn.fetchval(
            "INSERT INTO users (username, role) VALUES ($1, $2) RETURNING id", username, role
        )
        await conn.execute(
            "INSERT INTO api_tokens (user_id, token_hash, kind) VALUES ($1, $2, 'access')",
            user_id,
            tokens.hash_token(token),
        )
    return user_id, {"Authorization": f"Bearer {token}"}


async def _ids(response):
    assert response.status == 200, await response.text()
    return [device["id"] for device in await response.json()]


async def test_lists_the_same_documents_as_the_device_endpoint(client, fleet, db_pool):
    device = fleet.devices[0]
    async with db_pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO latest_readings VALUES ($1, 55, now(), 21.5, 21.5, NULL, NULL, NULL)",
            device.id,
        )
        await conn.execute(
            "INSERT INTO components (device_id, sensor_id, key) VALUES ($1, 14, 'light')",
            device.id,
        )
    response = await client.get("/v0/devices")
    listed = await response.json()
    assert [d["id"] for d in listed] == [d.id for d in fleet.devices]
    for document in listed:
        single = await (await client.get(f"/v0/devices/{document['id']}")).json()
        assert document == single
    first = next(d for d in listed if d["id"] == device.id)
    assert 14 in {s["id"] for s in first["data"]["sensors"]}
    assert next(s for s in first["data"]["sensors"] if s["id"] == 55)["value"] == 21.5


async def test_private_devices_only_for_their_owner_and_admins(client, fleet, db_pool):
    hidden = fleet.devices[1]
    async with db_pool.acquire() as conn:
        await conn.execute("UPDATE devices SET is_private = true WHERE id = $1", hidden.id)
    _, other = await _user_with_token(db_pool, "someone")
    _, admin = await _user_with_token(db_pool, "root", "admin")
    owner = {"Authorization": f"Bearer {fleet.access_token}"}
    assert hidden.id not in await _ids(await client.get("/v0/devices"))
    assert hidden.id not in await _ids(await client.get("/v0/devices", headers=other))
    assert hidden.id in await _ids(await client.get("/v0/devices", headers=owner))
    assert hidden.id in await _ids(await client.get("/v0/devices", headers=admin))
    anonymous = await client.get("/v0/devices")
    assert anonymous.headers["Total"] == "3"
    # the owner sees their MAC address and precise location, others do not
    mine = await (await client.get("/v0/devices", headers=owner)).json()
    assert {d["mac_address"] for d in mine} == {d.mac_address for d in fleet.devices}
    theirs = await (await client.get("/v0/devices", headers=other)).json()
    assert {d["mac_address"] for d in theirs} == {"[FILTERED]"}


async def test_test_and_deleted_devices_are_never_listed(client, fleet, db_pool):
    test_device, deleted = fleet.devices[2], fleet.devices[3]
    async with db_pool.acquire() as conn:
        await conn.execute("UPDATE devices SET is_test = true WHERE id = $1", test_device.id)
        await conn.execute("UPDATE devices SET deleted_at = now() WHERE id = $1", deleted.id)
    _, admin = await _user_with_token(db_pool, "root", "admin")
    for headers in ({}, {"Authorization": f"Bearer {fleet.access_token}"}, admin):
        ids = await _ids(await client.get("/v0/devices", headers=headers))
        assert ids == [fleet.devices[0].id, fleet.devices[1].id]


async def test_a_bad_token_is_401_not_anonymous(client, fleet):
    response = await client.get("/v0/devices", headers={"Authorization": "Bearer nope"})
    assert response.status == 401
    assert (await response.json())["code"] == "invalid_token"


async def test_pages_and_their_headers(client, fleet, db_pool):
    async with db_pool.acquire() as conn:
        for n in range(6):
            await conn.execute(
                "INSERT INTO devices (owner_id, name)"
                " SELECT owner_id, $2 FROM devices WHERE id = $1",
                fleet.devices[0].id,
                f"extra {n}",
            )
    response = await client.get("/v0/devices?per_page=3&page=2")
    assert response.status == 200
    assert len(await response.json()) == 3
    assert response.headers["Total"] == "10"
    assert response.headers["Per-Page"] == "3"
    links = _links(response.headers["Link"])
    assert set(links) == {"first", "prev", "next", "last"}
    assert "page=1" in links["first"] and "page=1" in links["prev"]
    assert "page=3" in links["next"] and "page=4" in links["last"]
    assert all("per_page=3" in link for link in links.values())
    last = await client.get("/v0/devices?per_page=3&page=4")
    assert len(await last.json()) == 1
    assert set(_links(last.headers["Link"])) == {"first", "prev"}
    assert last.headers["Total"] == "10"
    first = await client.get("/v0/devices?per_page=3")
    assert set(_links(first.headers["Link"])) == {"next", "last"}
    beyond = await client.get("/v0/devices?per_page=3&page=9")
    assert await beyond.json() == []
    assert beyond.headers["Total"] == "10"
    # pages together hold every device once
    seen = []
    for page in range(1, 5):
        seen += await _ids(await client.get(f"/v0/devices?per_page=3&page={page}"))
    assert len(seen) == len(set(seen)) == 10


async def test_default_page_size_and_a_single_page_has_no_links(client, fleet):
    response = await client.get("/v0/devices")
    assert response.headers["Per-Page"] == "25"
    assert response.headers["Total"] == "4"
    assert "Link" not in response.headers


@pytest.mark.parametrize(
    "query", ["page=0", "page=-1", "page=x", "per_page=0", "per_page=101", "per_page=1e2"]
)
async def test_bad_pagination_is_400_naming_the_parameter(client, fleet, query):
    response = await client.get(f"/v0/devices?{query}")
    assert response.status == 400
    body = await response.json()
    assert body["fields"][0]["name"] == query.split("=")[0]


async def test_near_orders_by_distance_and_within_bounds_it(client, fleet, db_pool):
    plaça, vondelpark, ancoats, fab_lab = (d.id for d in fleet.devices)
    async with db_pool.acquire() as conn:
        nowhere = await conn.fetchval(
            "INSERT INTO devices (owner_id, name) SELECT owner_id, 'nowhere' FROM devices"
            " WHERE id = $1 RETURNING id",
            plaça,
        )
    # near the Fab Lab: it, then the Plaça (3 km), Amsterdam (1,240 km), Manchester (1,390 km)
    ids = await _ids(await client.get("/v0/devices?near=41.3968,2.1943"))
    assert ids == [fab_lab, plaça, vondelpark, ancoats]
    assert nowhere not in ids
    assert await _ids(await client.get("/v0/devices?near=41.3968,2.1943&within=5")) == [
        fab_lab,
        plaça,
    ]
    assert await _ids(await client.get("/v0/devices?near=52.36,4.87&within=1")) == [vondelpark]
    assert await _ids(await client.get("/v0/devices?near=0,0&within=100")) == []


@pytest.mark.parametrize(
    "query",
    [
        "within=5",
        "near=41.39",
        "near=91,0",
        "near=0,181",
        "near=abc,def",
        "near=1,2&within=0",
        "near=1,2&within=-3",
        "near=1,2&within=far",
        "near=1,2&within=nan",
        "near=1,2&within=1_0",
        # Digits of other scripts, which float() reads: Arabic-Indic 41.4 and 10, fullwidth 2.
        "near=%D9%A4%D9%A1.%D9%A4,2",
        "near=41.4,%EF%BC%92",
        "near=1,2&within=%D9%A1%D9%A0",
    ],
)
async def test_bad_near_or_within_is_400(client, fleet, query):
    response = await client.get(f"/v0/devices?{query}")
    assert response.status == 400
    body = await response.json()
    assert body["object"] == "error"
    assert body["fields"][0]["name"] in ("near", "within")


async def test_with_tags_matches_user_and_system_tags(client, fleet, db_pool):
    plaça, vondelpark, ancoats, fab_lab = (d.id for d in fleet.devices)
    now = datetime.now(UTC)
    async with db_pool.acquire() as conn:
        await conn.execute(
            "UPDATE devices SET user_tags = '{Barcelona,school}' WHERE id = $1", plaça
        )
        await conn.execute(
            "UPDATE devices SET created_at = $2 WHERE id <> $1", vondelpark, now - timedelta(30)
        )
        await conn.execute(
            "UPDATE devices SET last_posted_at = $2, last_reading_at = $2 WHERE id = $1",
            ancoats,
            now - timedelta(minutes=1),
        )
        await conn.execute(
            "UPDATE devices SET last_posted_at = $2, last_reading_at = $2 WHERE id = $1",
            fab_lab,
            now - timedelta(hours=2),
        )

    async def tagged(tags):
        return await _ids(await client.get("/v0/devices", params={"with_tags": tags}))

    assert await tagged("school") == [plaça]
    assert await tagged("indoor") == [ancoats]
    assert await tagged("outdoor") == [plaça, vondelpark, fab_lab]
    assert await tagged("online") == [ancoats]
    assert await tagged("offline") == [fab_lab]
    assert await tagged("new") == [vondelpark]
    assert await tagged("school|indoor|new") == [plaça, vondelpark, ancoats]
    assert await tagged("nothing") == []
    # the documents carry the tags they were matched by
    documents = await (await client.get("/v0/devices?with_tags=online")).json()
    assert "online" in documents[0]["system_tags"]


async def test_too_many_tags_is_400(client, fleet):
    response = await client.get(
        "/v0/devices", params={"with_tags": "|".join("abcdefghijklmnopqrstu")}
    )
    assert response.status == 400


async def test_the_unversioned_listing_is_the_same(client, fleet):
    v0 = await (await client.get("/v0/devices")).json()
    plain = await (await client.get("/devices")).json()
    assert plain == v0


def _links(header):
    links = {}
    for part in header.split(","):
        url, rel = part.split(";")
        links[rel.strip().removeprefix('rel="').removesuffix('"')] = url.strip()[1:-1]
    return links
