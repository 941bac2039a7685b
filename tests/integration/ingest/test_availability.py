"""Health, readiness and backpressure: 503 with Retry-After, never a hang or a bare 500."""

from __future__ import annotations

import asyncio
import time

import orjson
from psycopg import conninfo

from ingest import app as ingest_app
from ingest import config, gateway, staging
from scripts import launcher
from storage import batches, packing
from storage import config as storage_config
from tests import db_proxy

BODY = orjson.dumps(
    {"data": [{"recorded_at": "2024-03-01T10:00:00Z", "sensors": [{"id": 12, "value": 1}]}]}
)


def settings_at(database_dsn, port):
    """Settings pointing at this test's database, but through 127.0.0.1:`port`."""
    parts = conninfo.conninfo_to_dict(database_dsn)
    dsn = f"postgresql://{parts['user']}@127.0.0.1:{port}/{parts['dbname']}"
    db = storage_config.DatabaseSettings(dsn=dsn, embedded=False, pool_min=1, pool_max=3)
    return config.IngestSettings(db=db, db_timeout_s=5, retry_after_s=3)


async def post(client, device_id, token):
    return await client.post(
        f"/v0/devices/{device_id}/readings", data=BODY, headers={"Authorization": f"Bearer {token}"}
    )


async def test_health_and_ready(client):
    health = await client.get("/health")
    assert health.status == 200
    assert await health.json() == {"status": "ok"}
    ready = await client.get("/ready")
    assert ready.status == 200
    assert (await ready.json())["status"] == "ready"


async def test_an_unreachable_database_gives_prompt_503s(world, database_dsn, aiohttp_client):
    client = await aiohttp_client(
        ingest_app.create_app(settings_at(database_dsn, launcher.free_port()))
    )
    response = await post(client, world.device_id, world.device_token)
    assert response.status == 503
    assert response.headers["Retry-After"] == "3"
    error = await response.json()
    assert (error["id"], error["code"], error["object"]) == (
        "service_unavailable",
        "database_unavailable",
        "error",
    )
    assert (await client.get("/ready")).status == 503
    assert (await client.get("/health")).status == 200


async def test_ingest_resumes_when_the_database_comes_up(
    aiohttp_client, world, database_dsn, db_pool
):
    proxy = db_proxy.to(database_dsn)  # not started: the database is down until it is
    client = await aiohttp_client(ingest_app.create_app(settings_at(database_dsn, proxy.port)))
    assert (await post(client, world.device_id, world.device_token)).status == 503
    await proxy.start()
    try:
        await asyncio.wait_for(client.app[gateway.key].database.opened.wait(), timeout=8)
        response = await post(client, world.device_id, world.device_token)
        assert response.status == 200
        assert await db_pool.fetchval("SELECT count(*) FROM ingest_batches") == 1
    finally:
        await client.close()  # closes the pool, so the relays end
        await proxy.cut()


async def test_a_staging_backlog_over_its_bound_gives_503(world, make_client, db_pool):
    async with db_pool.acquire() as conn:
        await batches.stage(conn, [(world.device_id, packing.pack_readings([1], [12], [1.0]), 1)])
    client = await make_client(max_backlog_readings=0)
    response = await post(client, world.device_id, world.device_token)
    assert response.status == 503
    assert response.headers["Retry-After"] == "1"
    assert (await response.json())["code"] == "backlog_full"
    assert await db_pool.fetchval("SELECT count(*) FROM ingest_batches") == 1


async def test_too_many_pending_readings_gives_503(world, make_client, db_pool):
    client = await make_client(max_pending_readings=1)
    stager = client.app[gateway.key].stager
    async with db_pool.acquire() as conn, conn.transaction():
        await conn.execute("LOCK TABLE ingest_batches IN ACCESS EXCLUSIVE MODE")  # COPY waits
        first = asyncio.create_task(post(client, world.device_id, world.device_token))
        # The stager offers no event to await from outside; poll until the request is in it.
        while stager.pending_readings == 0:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        response = await post(client, world.device_id, world.device_token)
        assert response.status == 503
        assert response.headers["Retry-After"] == "1"
        assert (await response.json())["code"] == "overloaded"
        assert not first.done()
    assert (await first).status == 200
    assert await db_pool.fetchval("SELECT count(*) FROM ingest_batches") == 1


async def test_a_gateway_behind_with_its_requests_gives_503_until_it_catches_up(
    world, make_client, db_pool
):
    # A bound well above what a busy test machine's own stalls reach, so that only the holds
    # below trip it.
    client = await make_client(max_loop_lag_ms=400)
    lag = client.app[gateway.key].lag
    # The event loop is held again and again, as when short of CPU. The lag task measures
    # when its late timer runs, which the loop offers no event for.
    for late in range(1, gateway.LOOP_LAG_SUSTAINED + 1):
        assert not lag.overloaded
        time.sleep(0.6)  # noqa: ASYNC251
        while lag.late < late:  # noqa: ASYNC110
            await asyncio.sleep(0)
    assert lag.overloaded
    response = await post(client, world.device_id, world.device_token)
    assert response.status == 503
    assert response.headers["Retry-After"] == "1"
    assert (await response.json())["code"] == "overloaded"
    assert await db_pool.fetchval("SELECT count(*) FROM ingest_batches") == 0
    while lag.overloaded:  # noqa: ASYNC110  # a timer on time again
        await asyncio.sleep(0.01)
    assert (await post(client, world.device_id, world.device_token)).status == 200
    assert await db_pool.fetchval("SELECT count(*) FROM ingest_batches") == 1


async def test_a_dead_background_task_stops_the_process(make_settings, aiohttp_client, monkeypatch):
    async def broken_run(self):
        raise RuntimeError("flusher bug")

    monkeypatch.setattr(staging.Stager, "run", broken_run)
    stopped = asyncio.Event()
    app = ingest_app.create_app(make_settings(), on_fatal=stopped.set)
    await aiohttp_client(app)
    await asyncio.wait_for(stopped.wait(), timeout=10)
    assert stopped.is_set()
