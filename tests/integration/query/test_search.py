"""GET /v0/search?q= over users and public devices."""

from __future__ import annotations

import pytest

from core import passwords
from storage import demo


@pytest.fixture
async def fleet(db_pool, monkeypatch):
    # The demo user's password is hashed with argon2 (a third of a second): not under test here.
    monkeypatch.setattr(passwords, "hash_password", lambda password: "not-a-hash")
    async with db_pool.acquire() as conn:
        seeded = await demo.seed(conn)
        await conn.execute(
            "INSERT INTO users (username, email, city, country_code, avatar)"
            " VALUES ('barcelonina', 'b@example.org', 'Girona', 'ES', 'https://a.example/b.png'),"
            "        ('amsterdammer', 'a@example.org', 'Amsterdam', 'NL', NULL)"
        )
    return seeded


@pytest.fixture
async def client(query_app, aiohttp_client):
    return await aiohttp_client(query_app())


async def _search(client, text, **params):
    response = await client.get("/v0/search", params={"q": text, **params})
    assert response.status == 200, await response.text()
    return await response.json()


async def test_devices_in_the_v0_shape(client, fleet):
    results = await _search(client, "vondel")
    device = fleet.devices[1]
    assert results == [
        {
            "id": device.id,
            "type": "Device",
            "name": "Vondelpark",
            "description": "SCK 2.1 by the park",
            "owner_id": results[0]["owner_id"],
            "owner_username": "demo",
            "city": "Amsterdam",
            "url": str(client.make_url(f"/v0/devices/{device.id}")),
            "country_code": "NL",
            "country": None,
        }
    ]


async def test_users_in_the_v0_shape(client, fleet):
    results = await _search(client, "BARCELONINA")
    assert results == [
        {
            "id": results[0]["id"],
            "type": "User",
            "username": "barcelonina",
            "avatar": "https://a.example/b.png",
            "city": "Girona",
            "url": str(client.make_url(f"/v0/users/{results[0]['id']}")),
            "country_code": "ES",
            "country": None,
        }
    ]
    assert "email" not in results[0]


async def test_matches_names_cities_and_descriptions_closest_first(client, fleet):
    results = await _search(client, "amsterdam")
    # the user named after the city comes before the device in it
    assert [(r["type"], r.get("username") or r.get("name")) for r in results] == [
        ("User", "amsterdammer"),
        ("Device", "Vondelpark"),
    ]
    by_description = await _search(client, "legacy firmware")
    assert [r["name"] for r in by_description] == ["Fab Lab roof"]
    barcelona = await _search(client, "barcelon")
    assert [r.get("username") or r["name"] for r in barcelona] == [
        "barcelonina",
        "demo",
        "Fab Lab roof",
        "Plaça del Sol",
    ]


async def test_private_test_and_deleted_are_not_found_by_others(client, fleet, db_pool):
    private, test, deleted = fleet.devices[1:]
    async with db_pool.acquire() as conn:
        await conn.execute("UPDATE devices SET is_private = true WHERE id = $1", private.id)
        await conn.execute("UPDATE devices SET is_test = true WHERE id = $1", test.id)
        await conn.execute("UPDATE devices SET deleted_at = now() WHERE id = $1", deleted.id)
        await conn.execute("UPDATE users SET deleted_at = now() WHERE username = 'amsterdammer'")
    for text in ("vondel", "ancoats", "fab lab", "amsterdammer"):
        assert await _search(client, text) == [], text
    # The owner finds their private device, but still no test or deleted one with a live token.
    headers = {"Authorization": f"Bearer {fleet.access_token}"}
    for text, found in (("vondel", ["Vondelpark"]), ("ancoats", []), ("fab lab", [])):
        response = await client.get("/v0/search", params={"q": text}, headers=headers)
        assert [r["name"] for r in await response.json()] == found, text


async def test_paginated(client, fleet):
    response = await client.get("/v0/search", params={"q": "a", "per_page": 2})
    assert len(await response.json()) == 2
    total = int(response.headers["Total"])
    assert total >= 6
    assert 'rel="next"' in response.headers["Link"]
    assert "q=a" in response.headers["Link"]


@pytest.mark.parametrize("query", ["", "?q=", "?q=%20%20", "?q=" + "x" * 101, "?q=a%00b"])
async def test_q_is_required_and_bounded(client, fleet, query):
    response = await client.get(f"/v0/search{query}")
    assert response.status == 400
    body = await response.json()
    assert body["fields"] == [{"name": "q", "message": body["message"]}]


@pytest.mark.parametrize("text", ["%", "_", "\\", "'", "%' OR '1'='1", "'; DROP TABLE users; --"])
async def test_metacharacters_match_literally(client, fleet, db_pool, text):
    assert await _search(client, text) == []
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM users") == 3
