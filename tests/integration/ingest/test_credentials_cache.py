"""The gateway caches devices and token holders for minutes, and forgets them when they change."""

from __future__ import annotations

import orjson
import psycopg

from core import tokens
from ingest import gateway
from storage import queries
from tests.support import eventually

T0 = "2024-03-01T10:00:00Z"
BODY = orjson.dumps({"data": [{"recorded_at": T0, "sensors": [{"id": 12, "value": 1}]}]})
LONG = {"cache_ttl_s": 3600.0, "cache_unwatched_ttl_s": 3600.0}  # only a notification can help


async def post(client, device_id, token):
    response = await client.post(
        f"/v0/devices/{device_id}/readings",
        data=BODY,
        headers={"Authorization": f"Bearer {token}"},
    )
    return response.status


async def watched_gateway(make_client, **overrides):
    client = await make_client(**overrides)
    registry = client.server.app[gateway.key].registry

    async def listening():
        return registry.watched

    await eventually(listening, what="the gateway listening for credential changes")
    return client


def execute(dsn, statement, params=()):
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(statement, params)


def status_becomes(client, device_id, token, expected):
    async def check():
        return await post(client, device_id, token) == expected

    return eventually(check, what=f"a post with {token!r} answered {expected}")


async def test_a_rotated_device_token_stops_working_at_once(world, make_client, database_dsn):
    client = await watched_gateway(make_client, **LONG)
    assert await post(client, world.device_id, world.device_token) == 200
    execute(
        database_dsn,
        "UPDATE devices SET device_token_hash = %s WHERE id = %s",
        (tokens.hash_token("rotated-token"), world.device_id),
    )
    await status_becomes(client, world.device_id, world.device_token, 401)
    assert await post(client, world.device_id, "rotated-token") == 200


async def test_a_token_unknown_when_first_seen_works_once_created(world, make_client, database_dsn):
    client = await watched_gateway(make_client, **LONG)
    assert await post(client, world.device_id, "owner-new-token") == 401
    execute(
        database_dsn,
        "INSERT INTO api_tokens (user_id, token_hash, kind)"
        " SELECT owner_id, %s, 'access' FROM devices WHERE id = %s",
        (tokens.hash_token("owner-new-token"), world.device_id),
    )
    await status_becomes(client, world.device_id, "owner-new-token", 200)


async def test_revoked_tokens_and_deleted_users_stop_working(world, make_client, database_dsn):
    client = await watched_gateway(make_client, **LONG)
    assert await post(client, world.device_id, world.owner_token) == 200
    assert await post(client, world.device_id, world.owner_key) == 200
    execute(
        database_dsn,
        "UPDATE api_tokens SET revoked_at = now() WHERE token_hash = %s",
        (tokens.hash_token(world.owner_token),),
    )
    await status_becomes(client, world.device_id, world.owner_token, 401)
    assert await post(client, world.device_id, world.owner_key) == 200
    execute(
        database_dsn,
        "UPDATE users SET deleted_at = now() WHERE id = (SELECT owner_id FROM devices"
        " WHERE id = %s)",
        (world.device_id,),
    )
    await status_becomes(client, world.device_id, world.owner_key, 401)


async def test_a_deleted_device_is_gone_at_once(world, make_client, database_dsn):
    client = await watched_gateway(make_client, **LONG)
    assert await post(client, world.device_id, world.device_token) == 200
    execute(database_dsn, "UPDATE devices SET deleted_at = now() WHERE id = %s", (world.device_id,))
    await status_becomes(client, world.device_id, world.device_token, 404)


async def test_a_device_moved_to_another_owner_refuses_the_old_owner(
    world, make_client, database_dsn
):
    client = await watched_gateway(make_client, **LONG)
    assert await post(client, world.device_id, world.owner_token) == 200
    execute(
        database_dsn,
        "UPDATE devices SET owner_id = (SELECT owner_id FROM devices WHERE id = %s) WHERE id = %s",
        (world.other_device_id, world.device_id),
    )
    await status_becomes(client, world.device_id, world.owner_token, 403)
    assert await post(client, world.device_id, world.other_token) == 200


async def test_the_workers_device_times_notify_nothing(world, database_dsn):
    with psycopg.connect(database_dsn, autocommit=True) as conn:
        conn.execute("LISTEN sensorium_credentials_changed")
        conn.execute(
            "UPDATE devices SET last_reading_at = now(), last_posted_at = now() WHERE id = %s",
            (world.device_id,),
        )
        conn.execute("UPDATE devices SET is_test = true WHERE id = %s", (world.device_id,))
        received = [n.payload for n in conn.notifies(timeout=0.5, stop_after=3)]
    assert received[0] == f"device:{world.device_id}"
    assert received[1:] == [f"token:{tokens.hash_token(world.device_token).hex()}"]


async def test_a_lost_listener_empties_the_caches_and_comes_back(world, make_client, database_dsn):
    client = await watched_gateway(make_client, cache_ttl_s=3600.0, cache_unwatched_ttl_s=0.4)
    registry = client.server.app[gateway.key].registry
    assert await post(client, world.device_id, world.device_token) == 200
    execute(
        database_dsn,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        " AND (query ILIKE 'LISTEN%%sensorium_credentials_changed%%' OR query = %s)",
        (queries.SQL["listener_ping"],),
    )

    async def relistened():
        return registry.watched and registry.listens >= 2

    await eventually(relistened, what="the gateway listening again")
    execute(
        database_dsn,
        "UPDATE devices SET device_token_hash = %s WHERE id = %s",
        (tokens.hash_token("rotated-token"), world.device_id),
    )
    await status_becomes(client, world.device_id, world.device_token, 401)
