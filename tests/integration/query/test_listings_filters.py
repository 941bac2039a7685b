"""Ransack-style `q[...]` filters and `q[sort]` on the listings, through the real app."""

from __future__ import annotations

import pytest

from core import passwords
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


async def _get(client, path, **params):
    response = await client.get(path, params=params)
    assert response.status == 200, await response.text()
    return await response.json()


async def _names(client, **params):
    return [d["name"] for d in await _get(client, "/v0/devices", **params)]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q[city_eq]": "Barcelona"}, ["Plaça del Sol", "Fab Lab roof"]),
        ({"q[city_not_eq]": "Barcelona"}, ["Vondelpark", "Ancoats kitchen"]),
        ({"q[name_cont]": "PARK"}, ["Vondelpark"]),
        ({"q[name_start]": "fab"}, ["Fab Lab roof"]),
        ({"q[name_end]": "kitchen"}, ["Ancoats kitchen"]),
        ({"q[country_code_in]": "NL,GB"}, ["Vondelpark", "Ancoats kitchen"]),
        ({"q[exposure_eq]": "indoor"}, ["Ancoats kitchen"]),
        ({"q[latitude_gt]": "50"}, ["Vondelpark", "Ancoats kitchen"]),
        ({"q[longitude_lt]": "0"}, ["Ancoats kitchen"]),
        (
            {"q[last_reading_at_null]": "true"},
            ["Plaça del Sol", "Vondelpark", "Ancoats kitchen", "Fab Lab roof"],
        ),
        ({"q[last_reading_at_null]": "false"}, []),
        ({"q[owner_username_eq]": "demo", "q[city_eq]": "Amsterdam"}, ["Vondelpark"]),
        ({"q[created_at_lt]": "2000-01-01"}, []),
        ({"q[created_at_gteq]": "2000-01-01T00:00:00Z", "q[kit_id_eq]": "3"}, ["Fab Lab roof"]),
        ({"q[name_cont]": ""}, ["Plaça del Sol", "Vondelpark", "Ancoats kitchen", "Fab Lab roof"]),
    ],
)
async def test_device_filters(client, fleet, params, expected):
    assert await _names(client, **params) == expected


async def test_in_takes_repeated_values_too(client, fleet):
    response = await client.get(
        "/v0/devices?q[city_in][]=Amsterdam&q[city_in][]=Manchester&q[sort]=name desc"
    )
    assert [d["name"] for d in await response.json()] == ["Vondelpark", "Ancoats kitchen"]


async def test_id_filters(client, fleet):
    first, second = fleet.devices[0].id, fleet.devices[1].id
    assert [d["id"] for d in await _get(client, "/v0/devices", **{"q[id_eq]": first})] == [first]
    ids = [d["id"] for d in await _get(client, "/v0/devices", **{"q[id_lteq]": second})]
    assert ids == [first, second]
    uuid = (await _get(client, f"/v0/devices/{second}"))["uuid"]
    assert [d["id"] for d in await _get(client, "/v0/devices", **{"q[uuid_eq]": uuid})] == [second]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name asc", ["Ancoats kitchen", "Fab Lab roof", "Plaça del Sol", "Vondelpark"]),
        ("name desc", ["Vondelpark", "Plaça del Sol", "Fab Lab roof", "Ancoats kitchen"]),
        ("city", ["Vondelpark", "Plaça del Sol", "Fab Lab roof", "Ancoats kitchen"]),
        (
            "country_code desc,name",
            ["Vondelpark", "Ancoats kitchen", "Fab Lab roof", "Plaça del Sol"],
        ),
    ],
)
async def test_sort(client, fleet, sort, expected):
    assert await _names(client, **{"q[sort]": sort}) == expected


async def test_ransack_s_is_sort_too(client, fleet):
    assert (await _names(client, **{"q[s]": "name desc"}))[0] == "Vondelpark"


async def test_filters_and_sort_survive_in_page_links(client, fleet):
    response = await client.get("/v0/devices?q[city_eq]=Barcelona&q[sort]=name+desc&per_page=1")
    assert [d["name"] for d in await response.json()] == ["Plaça del Sol"]
    assert response.headers["Total"] == "2"
    next_url = response.headers["Link"].split(";")[0].strip("<>")
    following = await client.session.get(next_url)
    assert [d["name"] for d in await following.json()] == ["Fab Lab roof"]


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("q[password_hash_eq]", "x", "password_hash"),
        ("q[owner_password_hash_eq]", "x", "owner_password_hash"),
        ("q[device_token_hash_eq]", "x", "device_token_hash"),
        ("q[owner_email_eq]", "demo@sensorium.invalid", "owner_email"),
        ("q[email_cont]", "demo", "email"),
        ("q[mac_address_eq]", "02:00:00:00:00:01", "mac_address"),
        ("q[is_private_eq]", "true", "is_private"),
        ("q[nothing_eq]", "1", "nothing"),
        ("q[name_like]", "x", "name_like"),
        ("q[name]", "x", "name"),
        ("q[id_cont]", "1", "cont"),
        ("q[id_eq]", "one", "one"),
        ("q[id_eq]", "1 OR 1=1", "1 OR 1=1"),
        ("q[id_eq]", "\u0661\u0662", "\u0661\u0662"),  # 12 in Arabic-Indic digits: ASCII only
        ("q[created_at_gt]", "yesterday", "yesterday"),
        ("q[latitude_gt]", "nan", "nan"),
        ("q[latitude_gt]", "\u0665\u0660", "\u0665\u0660"),  # 50 in Arabic-Indic digits
        ("q[uuid_eq]", "not-a-uuid", "not-a-uuid"),
        ("q[last_reading_at_null]", "maybe", "true or false"),
        ("q[sort]", "password_hash asc", "password_hash"),
        ("q[sort]", "name sideways", "sideways"),
        ("q[sort]", "name;DROP TABLE devices", "name;DROP"),
        ("q[name; DROP TABLE devices]", "x", "q[name; DROP TABLE devices]"),
        ("q[name_eq][x]", "x", "q[name_eq][x]"),
    ],
)
async def test_disallowed_or_malformed_filters_are_400_naming_them(
    client, fleet, key, value, named
):
    response = await client.get("/v0/devices", params={key: value})
    assert response.status == 400, await response.text()
    body = await response.json()
    assert body["object"] == "error"
    assert body["code"] == "invalid_filter"
    assert named in body["message"]
    assert body["fields"][0]["name"].startswith("q")


async def test_a_cap_on_conditions(client, fleet):
    twenty = {f"q[name_{p}]": "x" for p in ("eq", "not_eq", "cont", "start", "end", "lt", "gt")}
    twenty |= {f"q[city_{p}]": "x" for p in ("eq", "not_eq", "cont", "start", "end", "lt", "gt")}
    twenty |= {f"q[description_{p}]": "x" for p in ("eq", "not_eq", "cont", "start", "end", "lt")}
    assert len(twenty) == 20
    assert (await client.get("/v0/devices", params=twenty)).status == 200
    too_many = twenty | {"q[description_gt]": "x"}
    response = await client.get("/v0/devices", params=too_many)
    assert response.status == 400
    assert "at most 20" in (await response.json())["message"]


async def test_a_cap_on_in_values(client, fleet):
    response = await client.get("/v0/devices", params={"q[id_in]": ",".join(["1"] * 101)})
    assert response.status == 400


@pytest.mark.parametrize(
    "value",
    [
        "'",
        "''; DROP TABLE devices; --",
        "%",
        "_",
        "\\",
        "%' OR '1'='1",
        "Barcelona' --",
        "$1",
        '"',
        "😀",
        "a" * 200,
    ],
)
async def test_sql_metacharacters_are_only_values(client, fleet, db_pool, value):
    for key in ("q[name_eq]", "q[name_cont]", "q[city_start]", "q[city_in]", "q[name_end]"):
        response = await client.get("/v0/devices", params={key: value})
        assert response.status == 200, (key, await response.text())
        assert await response.json() == []
        assert response.headers["Total"] == "0"
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM devices") == 4


async def test_wildcards_match_literally(client, fleet, db_pool):
    async with db_pool.acquire() as conn:
        await conn.execute(
            "UPDATE devices SET name = '100% park_1' WHERE id = $1", fleet.devices[1].id
        )
    assert await _names(client, **{"q[name_cont]": "0% p"}) == ["100% park_1"]
    assert await _names(client, **{"q[name_cont]": "k_1"}) == ["100% park_1"]
    assert await _names(client, **{"q[name_cont]": "_"}) == ["100% park_1"]
    assert await _names(client, **{"q[name_end]": "%"}) == []


async def test_a_nul_or_overlong_value_is_400_not_500(client, fleet):
    assert (await client.get("/v0/devices", params={"q[name_eq]": "a\x00b"})).status == 400
    assert (await client.get("/v0/devices", params={"q[name_eq]": "a" * 201})).status == 400
    assert (await client.get("/v0/devices", params={"q[id_eq]": "9" * 19})).status == 400
    big = await client.get("/v0/devices", params={"q[id_eq]": "9" * 18})
    assert big.status == 200 and await big.json() == []


async def test_private_coordinates_cannot_be_narrowed_by_filters(client, fleet):
    # the Plaça is at 41.403629: its public latitude is 41.404, and only that can be compared
    exact = await _names(client, **{"q[latitude_eq]": "41.404"})
    assert exact == ["Plaça del Sol"]
    assert await _names(client, **{"q[latitude_lt]": "41.4037", "q[latitude_gt]": "41.4036"}) == []


async def test_catalogue_filters(client, fleet):
    sensors = await _get(client, "/v0/sensors", **{"q[unit_eq]": "ºC", "q[sort]": "id desc"})
    assert [s["id"] for s in sensors] == [55, 12]
    kits = await _get(client, "/v0/kits", **{"q[slug_start]": "sck-2"})
    assert [k["slug"] for k in kits] == ["sck-2-1"]
    measurements = await _get(client, "/v0/measurements", **{"q[name_cont]": "PM"})
    assert [m["name"] for m in measurements] == ["PM 1", "PM 2.5", "PM 10"]
    response = await client.get("/v0/sensors", params={"q[equation_cont]": "x"})
    assert response.status == 400
