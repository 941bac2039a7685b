"""End to end: devices post through nginx to the real gateways, real workers calibrate and store,
and the query service reads the readings back calibrated."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from storage import demo
from tests.support import eventually


def _temp(raw: float) -> float:
    return (175.72 / 65536.0 * raw) - 53


async def test_both_post_formats_are_stored_calibrated_and_read_back(start_platform, fleet):
    platform = start_platform(gateways=2, workers=2, queries=1)
    base = platform.base_url
    sck2 = next(d for d in fleet.devices if d.kit_id == demo.SCK_2_1)
    sck1 = next(d for d in fleet.devices if d.kit_id == demo.SCK_1_1)
    moment = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    body = {
        "data": [
            {
                "recorded_at": moment.isoformat(),
                "sensors": [{"id": "temp", "value": 21.5}, {"id": 87, "value": "12.5"}],
            }
        ]
    }
    legacy = [
        {
            "temp": "29090.6",
            "hum": "6815.74",
            "light": "30000",
            "bat": "786",
            "panel": "0",
            "co": "112500",
            "no2": "200000",
            "noise": "2",
            "nets": "10",
            "timestamp": (moment - timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S"),
        }
    ]
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{base}/v0/devices/{sck2.id}/readings",
            json=body,
            headers={"Authorization": f"Bearer {sck2.token}"},
        ) as response:
            assert response.status == 200, await response.text()
            answer = await response.json()
        assert answer["id"] == "ok" and answer["accepted"] == 2 and answer["rejected"] == []

        async with http.put(
            f"{base}/v0/add",
            headers={
                "X-SmartCitizenMacADDR": sck1.mac_address.upper(),
                "X-SmartCitizenVersion": "1.1-0.9.0-A",
                "X-SmartCitizenData": json.dumps(legacy),
            },
        ) as response:
            assert response.status == 200
            clock = await response.json()
        assert clock.startswith("UTC:") and clock.endswith("#")

        async def device(device_id: int) -> dict:
            async with http.get(f"{base}/v0/devices/{device_id}") as response:
                assert response.status == 200
                return await response.json()

        def sensors(document: dict) -> dict[int, dict]:
            return {s["id"]: s for s in document["data"]["sensors"]}

        async def stored() -> bool:
            """Both devices show their readings."""
            a, b = sensors(await device(sck2.id)), sensors(await device(sck1.id))
            return (
                a[55]["value"] is not None
                and a[87]["value"] is not None
                and (all(b[i]["value"] is not None for i in (7, 12, 13, 14, 15, 16, 17, 18, 21)))
            )

        await eventually(stored, within_s=60)
        new = sensors(await device(sck2.id))
        old = sensors(await device(sck1.id))

    assert new[55]["value"] == 21.5 and new[55]["last_reading_at"] == moment.strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    assert new[87]["value"] == 12.5
    # SCK 1.1: posted value -> reverse_equation -> raw_value -> equation -> value
    assert old[12]["raw_value"] == 29090.6
    assert old[12]["value"] == pytest.approx(_temp(29090.6))
    assert old[14]["raw_value"] == 3000.0 and old[14]["value"] == 3000.0  # light: x/10
    assert old[15]["raw_value"] == 200.0  # no2: x/1000
    assert old[17]["raw_value"] == 78.6  # bat: x/10
    assert old[7]["raw_value"] == 2.0 and old[7]["value"] == 55.0  # noise: the mV -> dB table


async def test_the_clock_and_the_error_model_through_the_front(start_platform, fleet):
    platform = start_platform(gateways=1, workers=1, queries=1)
    async with aiohttp.ClientSession() as http:
        for path in ("/v0/datetime", "/datetime"):  # SCK 1.x firmware asks without /v0
            async with http.get(f"{platform.base_url}{path}") as response:
                assert response.status == 200
                assert (await response.json()).startswith("UTC:")
                assert response.headers["X-Request-ID"]
        async with http.post(
            f"{platform.base_url}/v0/devices/{fleet.devices[0].id}/readings",
            data=b"{not json",
            headers={
                "Authorization": f"Bearer {fleet.devices[0].token}",
                "Content-Type": "application/json",
            },
        ) as response:
            assert response.status == 400
            assert (await response.json())["object"] == "error"
        async with http.get(f"{platform.base_url}/v0/devices/424242") as response:
            assert response.status == 404
            assert (await response.json())["id"] == "record_not_found"
