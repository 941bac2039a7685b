"""GET /v0/sensors, /v0/kits, /v0/measurements and their :id, on the seeded catalogue."""

from __future__ import annotations

import re

import pytest

TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


@pytest.fixture
async def client(query_app, aiohttp_client):
    return await aiohttp_client(query_app())


async def test_sensors_in_the_v0_shape(client):
    response = await client.get("/v0/sensors?per_page=100")
    assert response.status == 200
    sensors = await response.json()
    assert response.headers["Total"] == str(len(sensors)) == "19"
    assert [s["id"] for s in sensors] == sorted(s["id"] for s in sensors)
    temperature = next(s for s in sensors if s["id"] == 12)
    assert list(temperature) == [
        "id", "uuid", "parent_id", "name", "description", "unit", "created_at", "updated_at",
        "measurement", "default_key",
    ]  # fmt: skip
    assert temperature["name"] == "HPP828E031"
    assert temperature["description"] == "Temperature"
    assert temperature["unit"] == "ºC"
    assert temperature["default_key"] == "temp"
    assert temperature["parent_id"] is None
    assert TIME.fullmatch(temperature["created_at"])
    assert temperature["measurement"] == {
        "id": 1,
        "uuid": temperature["measurement"]["uuid"],
        "name": "air temperature",
        "description": "Temperature of the air around the sensor",
        "unit": "ºC",
        "definition": None,
    }


async def test_one_sensor(client):
    listed = await (await client.get("/v0/sensors?q[id_eq]=87")).json()
    response = await client.get("/v0/sensors/87")
    assert response.status == 200
    assert await response.json() == listed[0]
    assert listed[0]["description"] == "PM 2.5"


async def test_a_sensor_without_a_measurement(client, db_pool):
    async with db_pool.acquire() as conn:
        await conn.execute("INSERT INTO sensors (id, name) VALUES (2000, 'bare')")
    body = await (await client.get("/v0/sensors/2000")).json()
    assert body["measurement"] is None
    assert body["unit"] is None and body["default_key"] is None


@pytest.mark.parametrize(
    "path",
    [
        "/v0/sensors/9999",
        "/v0/sensors/abc",
        "/v0/sensors/-1",
        "/v0/sensors/99999999999999999999",
        "/v0/kits/9999",
        "/v0/kits/x",
        "/v0/measurements/9999",
        "/v0/measurements/1.5",
    ],
)
async def test_unknown_ids_are_404_in_the_error_model(client, path):
    response = await client.get(path)
    assert response.status == 404
    body = await response.json()
    assert body["object"] == "error"
    assert body["id"] == "record_not_found"
    assert "Couldn't find" in body["message"]


async def test_kits_with_their_sensors(client):
    response = await client.get("/v0/kits")
    assert response.status == 200
    kits = await response.json()
    assert [k["slug"] for k in kits] == ["sck-1-1", "sck-2-1"]
    assert response.headers["Total"] == "2"
    sck21 = kits[1]
    assert list(sck21) == [
        "id", "uuid", "slug", "name", "description", "created_at", "updated_at", "sensors",
    ]  # fmt: skip
    assert sck21["id"] == 26 and sck21["name"] == "SCK 2.1"
    assert [s["id"] for s in sck21["sensors"]] == [10, 53, 55, 56, 58, 87, 88, 89, 112, 113]
    # each sensor under the key the kit posts it by
    keys = {s["id"]: s["default_key"] for s in sck21["sensors"]}
    assert keys[55] == "temp" and keys[10] == "bat"
    assert len(kits[0]["sensors"]) == 9
    assert await (await client.get("/v0/kits/26")).json() == sck21


async def test_a_kit_without_sensors(client, db_pool):
    async with db_pool.acquire() as conn:
        await conn.execute("INSERT INTO kits (id, slug, name) VALUES (500, 'bare', 'Bare')")
    body = await (await client.get("/v0/kits/500")).json()
    assert body["sensors"] == []
    listed = await (await client.get("/v0/kits?q[sort]=id desc&per_page=1")).json()
    assert listed == [body]


async def test_measurements(client):
    response = await client.get("/v0/measurements")
    assert response.status == 200
    measurements = await response.json()
    assert response.headers["Total"] == "15"
    assert list(measurements[0]) == [
        "id", "uuid", "name", "description", "unit", "definition", "created_at", "updated_at",
    ]  # fmt: skip
    assert measurements[0]["name"] == "air temperature"
    one = await client.get("/v0/measurements/12")
    assert (await one.json())["name"] == "PM 2.5"


async def test_catalogue_pages(client):
    response = await client.get("/v0/sensors?per_page=5&page=4")
    assert len(await response.json()) == 4
    assert response.headers["Total"] == "19"
    assert 'rel="first"' in response.headers["Link"]
    assert 'rel="last"' not in response.headers["Link"]
    assert (await client.get("/v0/kits?per_page=500")).status == 400


async def test_unversioned_catalogue_paths(client):
    assert (
        await (await client.get("/sensors/12")).json()
        == await (await client.get("/v0/sensors/12")).json()
    )
    assert (await client.get("/kits")).status == 200
    assert (await client.get("/measurements/1")).status == 200
