"""The public world map through nginx: answered from nginx's copy for as long as the query
service allows, by the service for anything that presents a credential or a parameter, and fresh
after a post."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp

from storage import demo
from tests.support import eventually

_MAP = "/v0/devices/world_map"


async def test_nginx_answers_the_public_map_from_its_copy(start_platform, fleet, monkeypatch):
    # The copy outlives the test, and the service lets an address through three times: a
    # request nginx did not answer itself would be refused from the fourth on.
    monkeypatch.setenv("QUERY_WORLDMAP_PROXY_CACHE_S", "300")
    monkeypatch.setenv("QUERY_RATE_LIMIT_PER_MIN", "1")
    monkeypatch.setenv("QUERY_RATE_LIMIT_BURST", "3")
    platform = start_platform(gateways=1, workers=0, queries=1)
    url = platform.base_url + _MAP
    plain = {"Accept-Encoding": "identity"}
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as response:  # gzip: the service's first answer
            assert response.status == 200, await response.text()
            assert response.headers["Content-Encoding"] == "gzip"
            assert response.headers["X-Cache-Status"] == "MISS"
            assert "X-Accel-Expires" not in response.headers
            first = await response.json()
            gzip_etag = response.headers["ETag"]
        async with http.get(url, headers=plain) as response:  # plain: another variant
            assert response.status == 200
            assert response.headers["X-Cache-Status"] == "MISS"
            assert await response.json() == first
            plain_etag = response.headers["ETag"]
        assert plain_etag != gzip_etag

        for index in range(5):
            asked = {"If-None-Match": gzip_etag, "X-Request-ID": f"map-{index}"}
            async with http.get(url, headers=asked) as response:
                assert response.status == 304
                assert response.headers["X-Cache-Status"] == "HIT"
                assert response.headers["X-Request-ID"] == f"map-{index}"
                assert response.headers["ETag"] == gzip_etag
                # Another client's quota is not this one's: a copy carries none.
                assert "RateLimit-Remaining" not in response.headers
        for _ in range(3):
            async with http.get(url, headers=plain) as response:
                assert response.status == 200
                assert response.headers["X-Cache-Status"] == "HIT"
                assert await response.json() == first
        async with http.get(url, headers={**plain, "If-None-Match": plain_etag}) as response:
            assert response.status == 304
            assert response.headers["X-Cache-Status"] == "HIT"

        # A credential goes to the service, which checks it.
        invalid = {"Authorization": "Bearer not-a-live-token"}
        async with http.get(url, headers=invalid) as response:
            assert response.status == 401
            assert response.headers["X-Cache-Status"] == "BYPASS"
            assert (await response.json())["code"] == "invalid_token"
        # So does any parameter: the third request this address made to the service, then the
        # fourth, refused (so the eleven before it were nginx's).
        async with http.get(url, params={"pretty": "true"}) as response:
            assert response.status == 200
            assert response.headers["X-Cache-Status"] == "BYPASS"
            assert await response.json() == first
        async with http.get(url, params={"pretty": "true"}) as response:
            assert response.status == 429
            assert (await response.json())["code"] == "rate_limited"


async def test_a_post_shows_on_the_map_through_nginx(start_platform, fleet):
    platform = start_platform(gateways=1, workers=1, queries=1)
    base = platform.base_url
    device = next(d for d in fleet.devices if d.kit_id == demo.SCK_2_1)
    moment = (datetime.now(UTC) - timedelta(seconds=30)).replace(microsecond=0)
    body = {"data": [{"recorded_at": moment.isoformat(), "sensors": [{"id": 55, "value": 21}]}]}
    async with aiohttp.ClientSession() as http:
        async with http.get(base + _MAP) as response:
            assert response.status == 200
            etag = response.headers["ETag"]
            before = {entry["id"]: entry for entry in await response.json()}
        assert before.get(device.id, {}).get("last_reading_at") != _utc(moment)

        async with http.post(
            f"{base}/v0/devices/{device.id}/readings",
            json=body,
            headers={"Authorization": f"Bearer {device.token}"},
        ) as response:
            assert response.status == 200, await response.text()

        async def shown() -> bool:
            """the device's new reading on the map nginx serves"""
            async with http.get(base + _MAP, headers={"If-None-Match": etag}) as response:
                if response.status == 304:
                    return False
                assert response.status == 200
                entries = {entry["id"]: entry for entry in await response.json()}
            return entries[device.id]["last_reading_at"] == _utc(moment)

        await eventually(shown, within_s=30, interval_s=0.2)


def _utc(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
