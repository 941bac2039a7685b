"""SCK 1.x: /v0/add by MAC address, answered with the clock string; /v0/datetime."""

from __future__ import annotations

import logging
import re

import orjson
import pytest

from storage import packing

CLOCK = re.compile(r'^"UTC:\d{4},\d{1,2},\d{1,2},\d{2},\d{2},\d{2}#"$')
SCK_DATA = (
    '[{"temp":"29090.6","hum":"6815.74","light":"30000","bat":"786","panel":"0",'
    '"co":"112500","no2":"200000","noise":"2","nets":"10","timestamp":"2013-10-28 1:34:26"}]'
)


def sck_headers(mac, data=SCK_DATA):
    return {
        "X-SmartCitizenMacADDR": mac,
        "X-SmartCitizenVersion": "1.1-0.8.5-A",
        "X-SmartCitizenData": data,
    }


@pytest.mark.parametrize("method", ["PUT", "POST", "GET"])
async def test_add_stages_the_readings_of_the_device_with_that_mac(client, world, db_pool, method):
    response = await client.request(method, "/v0/add", headers=sck_headers("00:06:66:21:2b:8b"))
    assert response.status == 200
    assert CLOCK.match(await response.text())
    [row] = await db_pool.fetch("SELECT device_id, n_readings, payload FROM ingest_batches")
    assert (row["device_id"], row["n_readings"]) == (world.device_id, 9)
    readings = packing.unpack_readings(row["payload"])
    assert readings.sensor_ids.tolist() == [12, 13, 14, 17, 18, 16, 15, 7, 21]
    assert readings.values.tolist()[:3] == [29090.6, 6815.74, 30000.0]
    assert set(readings.times.tolist()) == {1_382_924_066_000_000}


@pytest.mark.parametrize(
    ("headers", "logged"),
    [
        (sck_headers("00:00:00:00:00:01"), "unknown MAC 00:00:00:00:00:01"),
        (sck_headers("not-a-mac"), "is not a MAC address"),
        (sck_headers("00:06:66:21:2b:8b", "[{"), "X-SmartCitizenData is not JSON"),
        (
            sck_headers("00:06:66:21:2b:8b", '[{"temp":"hot","timestamp":"2013-10-28 1:34:26"}]'),
            "value is not a number",
        ),
        ({}, "no X-SmartCitizenMacADDR header"),
    ],
)
async def test_bad_posts_get_the_clock_and_a_warning(
    client, world, db_pool, caplog, headers, logged
):
    with caplog.at_level(logging.WARNING, logger="ingest.handlers"):
        response = await client.put("/v0/add", headers=headers)
    assert response.status == 200
    assert CLOCK.match(await response.text())
    assert logged in caplog.text
    assert await db_pool.fetchval("SELECT count(*) FROM ingest_batches") == 0


async def test_datetime_answers_the_clock(client):
    for path in ("/v0/datetime", "/datetime"):
        response = await client.get(path)
        assert response.status == 200
        assert response.content_type == "application/json"
        assert CLOCK.match(await response.text())
        assert orjson.loads(await response.read()).startswith("UTC:")
