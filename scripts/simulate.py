"""A device simulator: the demo fleet posting realistic readings, as real kits do.

SCK 2.1 devices post calibrated values by key to `POST /v0/devices/:id/readings`; SCK 1.1
devices post raw sensor counts to the legacy `/v0/add` with their MAC address. Reads the devices
(id, name, kit_id, mac_address, token) as JSON on standard input.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import random
import sys
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson

from core import logging as core_logging

logger = logging.getLogger("sensorium.simulator")
SCK_1_1 = 3


def sck2_sensors(now: datetime, seed: float) -> list[dict[str, Any]]:
    """SCK 2.1 readings for one moment: a daily temperature cycle, humidity against it, etc."""
    hour = now.hour + now.minute / 60
    day = math.sin((hour - 9) / 24 * 2 * math.pi)
    temp = 17 + 6 * day + seed + random.gauss(0, 0.2)
    return [
        {"id": "temp", "value": round(temp, 2)},
        {"id": "hum", "value": round(min(95.0, max(20.0, 60 - 15 * day + random.gauss(0, 1))), 1)},
        {"id": "noise", "value": round(45 + 15 * max(0.0, day) + random.gauss(0, 3), 1)},
        {"id": "pressure", "value": round(101.3 + random.gauss(0, 0.05), 2)},
        {"id": "pm25", "value": round(max(0.0, 8 + 4 * random.random() - 2 * day), 1)},
        {"id": "pm10", "value": round(max(0.0, 14 + 6 * random.random() - 3 * day), 1)},
        {"id": "pm1", "value": round(max(0.0, 5 + 2 * random.random()), 1)},
        {"id": "eco2", "value": round(420 + 80 * random.random())},
        {"id": "tvoc", "value": round(20 + 30 * random.random())},
        {"id": "bat", "value": 100},
    ]


def sck1_payload(now: datetime, seed: float) -> list[dict[str, str]]:
    """One SCK 1.1 legacy reading: raw counts that the catalogue's equations calibrate."""
    temp = 17 + 6 * math.sin((now.hour - 9) / 24 * 2 * math.pi) + seed
    hum = 55 + random.gauss(0, 2)
    return [
        {
            "temp": f"{(temp + 53) * 65536 / 175.72:.1f}",
            "hum": f"{(hum - 7) * 65536 / 125.0:.2f}",
            "light": str(random.randint(2000, 40000)),
            "bat": "786",
            "panel": "0",
            "co": str(random.randint(100000, 130000)),
            "no2": str(random.randint(180000, 220000)),
            "noise": str(random.randint(2, 400)),
            "nets": str(random.randint(3, 15)),
            "timestamp": now.strftime("%Y-%m-%d %H:%M:%S"),
        }
    ]


async def run_device(
    session: aiohttp.ClientSession, base: str, device: dict[str, Any], interval: float
) -> None:
    """Post a reading every `interval` seconds until cancelled."""
    seed = random.uniform(-2, 2)
    await asyncio.sleep(random.uniform(0, interval))
    while True:
        now = datetime.now(UTC).replace(microsecond=0)
        if device["kit_id"] == SCK_1_1:
            method, path, body = "PUT", "/v0/add", None
            headers = {
                "X-SmartCitizenMacADDR": device["mac_address"],
                "X-SmartCitizenVersion": "1.1-0.9.0-A",
                "X-SmartCitizenData": json.dumps(sck1_payload(now, seed)),
            }
        else:
            data = {"data": [{"recorded_at": now.isoformat(), "sensors": sck2_sensors(now, seed)}]}
            method, path, body = "POST", f"/v0/devices/{device['id']}/readings", orjson.dumps(data)
            headers = {
                "Authorization": f"Bearer {device['token']}",
                "Content-Type": "application/json",
            }
        await post_until_accepted(session, method, f"{base}{path}", body, headers, device)
        await asyncio.sleep(interval)


async def post_until_accepted(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    body: bytes | None,
    headers: dict[str, str],
    device: dict[str, Any],
) -> None:
    """Post one reading; on 429 or 503 wait `Retry-After` and send it again, as firmware does."""
    while True:
        try:
            async with session.request(method, url, data=body, headers=headers) as response:
                await response.read()
                status = response.status
                retry_after = response.headers.get("Retry-After", "")
        except aiohttp.ClientError as exc:
            logger.warning("device %s could not post: %s", device["id"], exc)
            return
        level = logging.INFO if status == 200 else logging.WARNING
        logger.log(level, "device %s (%s) posted: %d", device["id"], device["name"], status)
        if status not in (429, 503):
            return
        await asyncio.sleep(float(retry_after) if retry_after.isdigit() else 1.0)


async def main(base: str, interval: float, devices: list[dict[str, Any]]) -> None:
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(run_device(session, base, d, interval) for d in devices))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--interval-s", type=float, default=10.0)
    args = parser.parse_args()
    core_logging.setup("INFO", process="simulator")
    fleet = json.load(sys.stdin)
    try:
        asyncio.run(main(args.base_url, args.interval_s, fleet))
    except KeyboardInterrupt:
        pass
