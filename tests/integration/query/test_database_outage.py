"""Every answer that needs the database is a 503 in the error model, with Retry-After, while the
database is out of reach, and the service answers again once it is back."""

from __future__ import annotations

from storage import demo
from tests.db_proxy import through


async def test_every_database_route_is_a_503_while_the_database_is_out_of_reach(
    database_dsn, db_pool, query_app, proxy, aiohttp_client
):
    async with db_pool.acquire() as conn:
        fleet = await demo.seed(conn)
    client = await aiohttp_client(query_app(db=through(database_dsn, proxy)))
    device = fleet.devices[0].id
    signed_in = {"Authorization": f"Bearer {fleet.access_token}"}

    async def answers(name):
        """An answer of each route that reads or writes the database; the PATCH renames."""
        for method, path, headers, body in [
            ("GET", f"/v0/devices/{device}", {"Cache-Control": "no-cache"}, None),
            ("GET", f"/v0/devices/{device}/readings?sensor_id=55&rollup=1h", {}, None),
            ("GET", "/v0/devices", {}, None),
            ("GET", "/v0/kits", {}, None),
            ("GET", f"/v0/users/{fleet.username}", {}, None),
            ("GET", "/v0/me", signed_in, None),
            ("GET", "/v0/me/api_keys", signed_in, None),
            ("PATCH", f"/v0/devices/{device}", signed_in, {"name": name}),
            ("GET", "/v0/devices/fresh_world_map", signed_in, None),
        ]:
            yield (method, path), await client.request(method, path, headers=headers, json=body)

    async for request, answer in answers("Before"):
        assert answer.status < 300, (request, answer.status)

    await proxy.cut()
    async for request, answer in answers("During"):
        assert answer.status == 503, (request, answer.status, await answer.text())
        error = await answer.json()
        assert (error["object"], error["id"]) == ("error", "service_unavailable"), error
        assert int(answer.headers["Retry-After"]) >= 1
        assert error["request_id"] == answer.headers["X-Request-ID"]
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT name FROM devices WHERE id = $1", device) == "Before"

    await proxy.start()
    async for request, answer in answers("After"):
        assert answer.status < 300, (request, answer.status)
    async with db_pool.acquire() as conn:
        assert await conn.fetchval("SELECT name FROM devices WHERE id = $1", device) == "After"
