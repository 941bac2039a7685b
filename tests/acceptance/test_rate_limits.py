"""Rate limits through the front: nginx tells the services who the client is (and a client
cannot tell them otherwise), and each of N gateways enforces 1/N of a device's quota."""

from __future__ import annotations

import aiohttp

from storage import demo

# Sustained: one request a minute, so no test run is slow enough to earn another.
_LIMITS = {
    "QUERY_RATE_LIMIT_PER_MIN": "1",
    "QUERY_RATE_LIMIT_BURST": "2",
    "INGEST_DEVICE_RATE_LIMIT_PER_MIN": "1",
    "INGEST_DEVICE_RATE_LIMIT_BURST": "4",
}
_BODY = {"data": [{"recorded_at": "2024-05-01T10:00:00Z", "sensors": [{"id": 55, "value": 1}]}]}


async def test_limits_hold_through_nginx(start_platform, fleet, monkeypatch):
    for name, value in _LIMITS.items():
        monkeypatch.setenv(name, value)
    platform = start_platform(gateways=2, workers=0, queries=1)
    base = platform.base_url
    device = next(d for d in fleet.devices if d.kit_id == demo.SCK_2_1)
    async with aiohttp.ClientSession() as http:
        answers = []
        for _ in range(3):
            async with http.get(f"{base}/v0/kits") as response:
                answers.append(response.status)
        assert answers == [200, 200, 429]
        # nginx overwrites X-Real-IP, so a client cannot pose as another address.
        spoofed = {"X-Real-IP": "192.0.2.9", "X-Forwarded-For": "192.0.2.9"}
        async with http.get(f"{base}/v0/kits", headers=spoofed) as response:
            assert response.status == 429
            assert int(response.headers["Retry-After"]) >= 1
            assert (await response.json())["code"] == "rate_limited"

        # Two gateways, each enforcing half of the burst of 4: round robin lets 4 through.
        posted = []
        for _ in range(5):
            async with http.post(
                f"{base}/v0/devices/{device.id}/readings",
                json=_BODY,
                headers={"Authorization": f"Bearer {device.token}"},
            ) as response:
                posted.append((response.status, response.headers.get("RateLimit-Limit")))
        assert posted[:4] == [(200, "2")] * 4
        assert posted[4] == (429, "2")
