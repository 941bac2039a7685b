"""GET /v0/devices/:id through the real query app on a real database."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from storage import demo


@pytest.fixture
async def fleet(db_pool):
    async with db_pool.acquire() as conn:
        return await demo.seed(conn)


@pytest.fixture
async def client(query_app, aiohttp_client):
    return await aiohttp_client(query_app())


async def test_a_device_that_never_posted_is_new_and_lists_its_kit_sensors(client, fleet):
    device = fleet.devices[0]
    response = await client.get(f"/v0/devices/{device.id}")
    assert response.status == 200
    body = await response.json()
    assert body["id"] == device.id
    assert body["name"] == device.name
    assert body["status"] == "new"
    assert body["state"] == "never_published"
    assert body["device_token"] == "[FILTERED]"
    assert body["kit"]["slug"] == "sck-2-1"
    assert body["owner"]["username"] == demo.USERNAME
    sensors = {s["id"]: s for s in body["data"]["sensors"]}
    assert set(sensors) == {10, 53, 55, 56, 58, 87, 88, 89, 112, 113}
    assert sensors[55]["value"] is None and sensors[55]["last_reading_at"] is None
    # public coordinates are rounded to about 100 m
    assert body["latitude"] == 41.404


async def post(
    db_pool: Any, device_id: int, latest: datetime, values: tuple[float, float, float, float]
) -> None:
    """Sensor 55's latest and previous readings (raw, value, previous raw, previous value), a
    minute apart, as the workers write them, and the device's times."""
    async with db_pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO latest_readings VALUES ($1, 55, $2, $3, $4, $5, $6, $7)",
            device_id,
            latest,
            values[0],
            values[1],
            latest - timedelta(minutes=1),
            values[2],
            values[3],
        )
        await conn.execute(
            "UPDATE devices SET last_reading_at = $2, last_posted_at = now() WHERE id = $1",
            device_id,
            latest,
        )


async def test_latest_and_previous_readings_are_injected(client, fleet, db_pool):
    device = fleet.devices[0]
    await post(
        db_pool, device.id, datetime(2024, 5, 1, 12, 0, tzinfo=UTC), (21.5, 21.5, 20.0, 20.5)
    )
    body = await (await client.get(f"/v0/devices/{device.id}")).json()
    sensor = next(s for s in body["data"]["sensors"] if s["id"] == 55)
    assert sensor["value"] == 21.5
    assert sensor["raw_value"] == 21.5
    assert sensor["prev_value"] == 20.5
    assert sensor["prev_raw_value"] == 20.0
    assert sensor["last_reading_at"] == "2024-05-01T12:00:00Z"
    assert body["status"] == "online"
    assert body["state"] == "has_published"
    assert body["data"]["recorded_at"] == "2024-05-01T12:00:00Z"


# "²" is a digit to str.isdigit but not to int(): it was a 500.
@pytest.mark.parametrize(
    "path", ["/v0/devices/999999", "/v0/devices/abc", "/v0/devices/-1", "/v0/devices/%C2%B2"]
)
async def test_unknown_devices_are_404_in_the_error_model(client, fleet, path):
    response = await client.get(path)
    assert response.status == 404
    body = await response.json()
    assert body["id"] == "record_not_found"
    assert body["object"] == "error"
    assert body["code"] == "device_not_found"
    assert body["request_id"] == response.headers["X-Request-ID"]


async def test_a_device_has_one_address_in_ascii_digits(client, fleet):
    device = fleet.devices[1].id
    # Its id in Arabic-Indic digits, which Python's int() reads as the same number.
    arabic = str(device).translate({ord("0") + d: 0x0660 + d for d in range(10)})
    assert int(arabic) == device
    assert (await client.get(f"/v0/devices/{device}")).status == 200
    response = await client.get(f"/v0/devices/{arabic}")
    assert response.status == 404
    assert (await response.json())["code"] == "device_not_found"


async def test_private_devices_are_hidden_from_anonymous_readers(client, fleet, db_pool):
    device = fleet.devices[1]
    async with db_pool.acquire() as conn:
        await conn.execute("UPDATE devices SET is_private = true WHERE id = $1", device.id)
    response = await client.get(f"/v0/devices/{device.id}")
    assert response.status == 404


async def test_owners_see_their_private_devices_and_precise_location(client, fleet, db_pool):
    device = fleet.devices[1]
    async with db_pool.acquire() as conn:
        await conn.execute("UPDATE devices SET is_private = true WHERE id = $1", device.id)
    for headers, query in [
        ({"Authorization": f"Bearer {fleet.access_token}"}, ""),
        ({"Authorization": f"Token token={fleet.access_token}"}, ""),
        ({}, f"?access_token={fleet.access_token}"),
    ]:
        response = await client.get(f"/v0/devices/{device.id}{query}", headers=headers)
        assert response.status == 200
        body = await response.json()
        assert body["latitude"] == 52.358012  # not rounded for the owner
        assert body["mac_address"] == device.mac_address


async def test_a_device_token_or_a_bad_token_does_not_read_as_a_user(client, fleet):
    device = fleet.devices[0]
    for token in [device.token, "not-a-token", ""]:
        response = await client.get(
            f"/v0/devices/{device.id}", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status == 401
        assert (await response.json())["type"] == "authentication_error"


async def test_unversioned_paths_serve_v0(client, fleet):
    device = fleet.devices[0]
    v0 = await (await client.get(f"/v0/devices/{device.id}")).json()
    plain = await (await client.get(f"/devices/{device.id}")).json()
    assert plain["id"] == v0["id"] == device.id
    assert plain["data"]["sensors"] == v0["data"]["sensors"]


async def test_unknown_routes_answer_in_the_error_model(client):
    response = await client.get("/v0/nothing-here")
    assert response.status == 404
    assert (await response.json())["object"] == "error"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_the_sensors_are_written_as_the_device_listing_writes_them(client, fleet, db_pool):
    # A device document's sensors are written by the database (storage/sql/devices.sql), a
    # listing's by query/documents.py: the same entries, to the same second, NaN as null.
    device = fleet.devices[0]
    latest = datetime(2024, 5, 1, 12, 0, 7, 654321, tzinfo=UTC)
    async with db_pool.acquire() as conn:
        await conn.execute(
            "UPDATE sensors SET created_at = $1 WHERE id = 55", latest - timedelta(days=400)
        )
    await post(db_pool, device.id, latest, (21.125, math.nan, 1e-7, 20.5))
    answer = await client.get(f"/v0/devices/{device.id}")
    raw = await answer.read()
    assert b'" : ' not in raw and b", \n" not in raw  # compact, as the rest of the API writes
    document = orjson.loads(raw)
    listing = await (await client.get("/v0/devices?per_page=100")).json()
    [listed] = [entry for entry in listing if entry["id"] == device.id]
    assert document["data"]["sensors"] == listed["data"]["sensors"]
    sensor = next(s for s in document["data"]["sensors"] if s["id"] == 55)
    assert sensor["last_reading_at"] == "2024-05-01T12:00:07Z"
    assert sensor["created_at"] == "2023-03-28T12:00:07Z"
    assert (sensor["raw_value"], sensor["value"]) == (21.125, None)
    assert (sensor["prev_raw_value"], sensor["prev_value"]) == (1e-7, 20.5)
    assert sensor["measurement"] is not None and set(sensor["measurement"]) == {
        "id",
        "name",
        "description",
    }
