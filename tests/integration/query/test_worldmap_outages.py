"""The world map when the database goes away: the last snapshot is served, the refresher
reconnects and catches up, a start without a database answers 503 until a first build, and a
refresher that dies stops the process."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from query import worldmap
from query.app import create_app
from query.config import QuerySettings
from storage import config as storage_config
from storage import demo, errors
from storage import pool as storage_pool
from storage import worldmap as storage_worldmap
from tests.db_proxy import through
from tests.support import eventually

FRESH_WITHIN_S = 10


@pytest.fixture
async def fleet(db_pool):
    async with db_pool.acquire() as conn:
        return await demo.seed(conn)


async def post(db_settings: storage_config.DatabaseSettings, device_id: int, value: float) -> None:
    """A reading as the workers store it, on a connection of its own (others may be killed)."""
    conn = await storage_pool.connect(db_settings)
    try:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO latest_readings (device_id, sensor_id, time, raw_value, value)"
                " VALUES ($1, 55, now(), $2, $2) ON CONFLICT (device_id, sensor_id) DO UPDATE"
                " SET time = excluded.time, raw_value = excluded.raw_value, value = excluded.value",
                device_id,
                value,
            )
            await conn.execute(
                "UPDATE devices SET last_reading_at = now(), last_posted_at = now() WHERE id = $1",
                device_id,
            )
    finally:
        await conn.close()


def showing(client: Any, value: float) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        response = await client.get("/v0/devices/world_map")
        if response.status != 200:
            return False
        body = await response.json()
        return bool(len(body) == 1 and body[0]["data"]["55"] == value)

    return check


async def test_the_map_survives_terminated_connections(
    db_settings, query_app, fleet, aiohttp_client
):
    client = await aiohttp_client(query_app())
    refresher = client.app[worldmap.refresher_key]
    device = fleet.devices[0].id
    await post(db_settings, device, 1.0)
    await eventually(showing(client, 1.0), within_s=FRESH_WITHIN_S)
    etag = (await client.get("/v0/devices/world_map")).headers["ETag"]

    killer = await storage_pool.connect(db_settings)
    try:
        terminated = await killer.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await killer.close()
    assert terminated >= 2  # the pool's connection and the LISTEN connection

    served = await client.get("/v0/devices/world_map")
    assert served.status == 200
    assert served.headers["ETag"] == etag

    async def listening_again():
        return refresher.listens >= 2

    await eventually(listening_again, within_s=FRESH_WITHIN_S)
    await post(db_settings, device, 2.0)
    await eventually(showing(client, 2.0), within_s=FRESH_WITHIN_S)


async def test_the_last_snapshot_is_served_while_the_database_is_unreachable(
    database_dsn, db_settings, query_app, fleet, proxy, aiohttp_client
):
    client = await aiohttp_client(query_app(db=through(database_dsn, proxy)))
    refresher = client.app[worldmap.refresher_key]
    device = fleet.devices[0].id
    await post(db_settings, device, 1.0)
    await eventually(showing(client, 1.0), within_s=FRESH_WITHIN_S)

    await proxy.cut()

    async def noticed():
        return refresher.failures >= 1

    await eventually(noticed, within_s=FRESH_WITHIN_S)
    await post(db_settings, device, 2.0)  # directly: only the app has lost the database
    for _ in range(3):
        assert await showing(client, 1.0)()
    fresh = await client.get(
        "/v0/devices/fresh_world_map", headers={"Authorization": f"Bearer {fleet.access_token}"}
    )
    assert fresh.status == 503
    assert "Retry-After" in fresh.headers

    await proxy.start()
    await eventually(showing(client, 2.0), within_s=20, what="the map catching up")


async def test_the_map_answers_503_until_its_first_build(
    db_settings, query_app, fleet, aiohttp_client, monkeypatch
):
    real = storage_worldmap.public_devices
    database_up = asyncio.Event()

    async def public_devices(pool, **kwargs):
        if not database_up.is_set():
            raise errors.StorageUnavailable("the database is starting")
        return await real(pool, **kwargs)

    monkeypatch.setattr(storage_worldmap, "public_devices", public_devices)
    client = await aiohttp_client(query_app())
    response = await client.get("/v0/devices/world_map")
    assert response.status == 503
    assert response.headers["Retry-After"] == str(worldmap.RETRY_AFTER_S)
    assert (await response.json())["code"] == "world_map_unavailable"

    await post(db_settings, fleet.devices[0].id, 3.0)
    database_up.set()
    await eventually(showing(client, 3.0), within_s=FRESH_WITHIN_S)


async def test_a_refresher_that_dies_stops_the_process(
    db_settings, fleet, aiohttp_client, monkeypatch
):
    async def broken(pool, **kwargs):
        raise RuntimeError("a bug in the map")

    monkeypatch.setattr(storage_worldmap, "public_devices", broken)
    stopped = asyncio.Event()
    await aiohttp_client(create_app(QuerySettings(db=db_settings), on_fatal=stopped.set))
    await asyncio.wait_for(stopped.wait(), timeout=10)
    assert stopped.is_set()


async def test_the_refresher_stops_with_the_app(db_settings, query_app, fleet, aiohttp_client):
    client = await aiohttp_client(query_app())
    await client.close()
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "snapshot-refresher"]
    conn = await storage_pool.connect(db_settings)
    try:
        others = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND query ILIKE 'LISTEN%'"
        )
    finally:
        await conn.close()
    assert others == 0
