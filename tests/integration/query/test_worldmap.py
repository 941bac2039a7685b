"""GET /v0/devices/world_map and /v0/devices/fresh_world_map through the real query app on a
real database: what is shown, freshness, validators, gzip, owners' private devices."""

from __future__ import annotations

import asyncio
import gc
import gzip
import itertools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from core import tokens
from query import worldmap
from storage import demo
from storage import pool as storage_pool
from storage import worldmap as storage_worldmap
from tests.support import eventually

# Notifications make a change visible in about a second; without them the map would wait for
# its 30-second periodic rebuild, and these tests would fail.
FRESH_WITHIN_S = 10
_minutes = itertools.count(1)
# Whether the map, asked through a client, shows what a test waits for.
Check = Callable[[Any], Awaitable[bool]]


@pytest.fixture
async def fleet(db_pool):
    async with db_pool.acquire() as conn:
        return await demo.seed(conn)


@pytest.fixture
async def client(query_app, fleet, aiohttp_client):
    return await aiohttp_client(query_app())


async def post(
    db_pool: storage_pool.Pool,
    device_id: int,
    sensor_id: int = 55,
    value: float = 21.5,
    raw_value: float | None = None,
) -> datetime:
    """What the workers do when a reading arrives: move the latest reading forward, then touch
    the device, in one transaction."""
    at = (
        datetime.now(UTC).replace(microsecond=0)
        - timedelta(hours=1)
        + timedelta(seconds=next(_minutes))
    )
    async with db_pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO latest_readings (device_id, sensor_id, time, raw_value, value)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (device_id, sensor_id) DO UPDATE"
            " SET time = excluded.time, raw_value = excluded.raw_value, value = excluded.value",
            device_id,
            sensor_id,
            at,
            value if raw_value is None else raw_value,
            value,
        )
        await conn.execute(
            "UPDATE devices SET last_reading_at = greatest(last_reading_at, $2),"
            " last_posted_at = now() WHERE id = $1",
            device_id,
            at,
        )
    return at


async def world_map(client: Any, path: str = "/v0/devices/world_map", **headers: str) -> Any:
    response = await client.get(path, headers=headers)
    assert response.status == 200, await response.text()
    return await response.json()


def ids_shown(expected: set[int], path: str = "/v0/devices/world_map", **headers: str) -> Check:
    """A check that the map shows exactly the devices `expected`."""

    async def check(client: Any) -> bool:
        return {entry["id"] for entry in await world_map(client, path, **headers)} == expected

    return check


async def until(client: Any, check: Check, what: str) -> bool:
    return await eventually(lambda: check(client), within_s=FRESH_WITHIN_S, what=what)


async def test_the_map_has_the_reference_fields(client, fleet, db_pool):
    device = fleet.devices[0]
    at = await post(db_pool, device.id, 55, 21.5, raw_value=21.25)
    await until(client, ids_shown({device.id}), "the posted device on the map")
    [entry] = await world_map(client)
    assert set(entry) >= {
        "id",
        "name",
        "description",
        "owner_id",
        "owner_username",
        "latitude",
        "longitude",
        "city",
        "country_code",
        "kit_id",
        "status",
        "exposure",
        "data",
        "added_at",
        "state",
        "system_tags",
        "user_tags",
        "last_reading_at",
        "location",
        "hardware",
    }
    assert entry["name"] == device.name
    assert entry["owner_username"] == demo.USERNAME
    assert entry["kit_id"] == demo.SCK_2_1
    assert entry["status"] == "online"
    assert entry["state"] == "has_published"
    assert entry["system_tags"] == ["new", "online", "outdoor"]
    assert entry["data"]["55"] == 21.5
    assert entry["data"]["55_raw"] == 21.25
    assert entry["data"]["recorded_at"] == at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert entry["last_reading_at"] == entry["data"]["recorded_at"]
    assert set(entry["location"]) == {
        "exposure",
        "elevation",
        "latitude",
        "longitude",
        "geohash",
        "city",
        "country_code",
        "country",
    }
    assert entry["location"]["city"] == "Barcelona"
    assert entry["hardware"]["slug"] == "sck-2-1"


async def test_the_map_matches_the_device_document(client, fleet, db_pool):
    device = fleet.devices[0]
    await post(db_pool, device.id)
    await until(client, ids_shown({device.id}), "the posted device on the map")
    [entry] = await world_map(client)
    document = await (await client.get(f"/v0/devices/{device.id}")).json()
    for field in ["name", "latitude", "longitude", "added_at", "last_reading_at", "user_tags"]:
        assert entry[field] == document[field], field
    assert entry["location"] == document["location"]
    assert entry["hardware"] == document["hardware"]
    assert entry["owner_id"] == document["owner"]["id"]


async def test_public_coordinates_are_rounded(client, fleet, db_pool):
    device = fleet.devices[1]  # Vondelpark, 52.358012, 4.868573
    await post(db_pool, device.id)
    await until(client, ids_shown({device.id}), "the posted device on the map")
    [entry] = await world_map(client)
    assert (entry["latitude"], entry["longitude"]) == (52.358, 4.869)
    async with db_pool.acquire() as conn:
        await conn.execute("UPDATE devices SET precise_location = true WHERE id = $1", device.id)

    async def precise(client):
        [entry] = await world_map(client)
        return entry["latitude"] == 52.358012 and entry["location"]["longitude"] == 4.868573

    await until(client, precise, "precise coordinates once the owner allows them")


async def test_only_public_located_posted_live_devices_are_shown(client, fleet, db_pool):
    shown, private, test, unlocated, deleted = [d.id for d in fleet.devices[:4]] + [None]
    async with db_pool.acquire() as conn:
        deleted = await conn.fetchval(
            "INSERT INTO devices (owner_id, name, latitude, longitude)"
            " SELECT owner_id, 'Gone', 41.4, 2.1 FROM devices WHERE id = $1 RETURNING id",
            shown,
        )
    for device_id in [shown, private, test, unlocated, deleted]:
        await post(db_pool, device_id)
    everything = {shown, private, test, unlocated, deleted}
    await until(client, ids_shown(everything), "every posted device on the map")
    async with db_pool.acquire() as conn:
        await conn.execute("UPDATE devices SET is_private = true WHERE id = $1", private)
        await conn.execute("UPDATE devices SET is_test = true WHERE id = $1", test)
        await conn.execute("UPDATE devices SET latitude = NULL WHERE id = $1", unlocated)
        await conn.execute("UPDATE devices SET deleted_at = now() WHERE id = $1", deleted)
    await until(client, ids_shown({shown}), "only the public, located, live device")


async def test_devices_that_never_posted_are_not_shown(client, fleet, db_pool):
    assert await world_map(client) == []
    await post(db_pool, fleet.devices[2].id)
    await until(client, ids_shown({fleet.devices[2].id}), "the device that posted")


async def test_a_post_shows_on_the_map_within_seconds_with_a_new_etag(client, fleet, db_pool):
    device = fleet.devices[0]
    await post(db_pool, device.id, value=10.0)
    await until(client, ids_shown({device.id}), "the posted device on the map")
    before = await client.get("/v0/devices/world_map")
    await post(db_pool, device.id, value=11.0)

    async def updated(client):
        [entry] = await world_map(client)
        return entry["data"]["55"] == 11.0

    await until(client, updated, "the new reading on the map")
    after = await client.get("/v0/devices/world_map")
    assert after.headers["ETag"] != before.headers["ETag"]
    stale = await client.get(
        "/v0/devices/world_map", headers={"If-None-Match": before.headers["ETag"]}
    )
    assert stale.status == 200


async def test_a_matching_etag_gets_a_304_without_body(client, fleet, db_pool):
    await post(db_pool, fleet.devices[0].id)
    await until(client, ids_shown({fleet.devices[0].id}), "the posted device on the map")
    first = await client.get("/v0/devices/world_map")
    etag = first.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert first.headers["Last-Modified"].endswith(" GMT")
    for header in [etag, f"W/{etag}", f'"nope", {etag}', "*"]:
        again = await client.get("/v0/devices/world_map", headers={"If-None-Match": header})
        assert again.status == 304, header
        assert await again.read() == b""
        assert again.headers["ETag"] == etag
    since = await client.get(
        "/v0/devices/world_map", headers={"If-Modified-Since": first.headers["Last-Modified"]}
    )
    assert since.status == 304
    other = await client.get("/v0/devices/world_map", headers={"If-None-Match": '"nope"'})
    assert other.status == 200


async def test_gzip_decodes_to_the_same_json(client, fleet, db_pool, aiohttp_client):
    await post(db_pool, fleet.devices[0].id)
    await post(db_pool, fleet.devices[1].id)
    await until(client, ids_shown({d.id for d in fleet.devices[:2]}), "both devices on the map")
    plain = await client.get("/v0/devices/world_map", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    raw_client = await aiohttp_client(client.server, auto_decompress=False)
    zipped = await raw_client.get("/v0/devices/world_map", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["Vary"]
    assert zipped.headers["ETag"] != plain.headers["ETag"]
    assert gzip.decompress(await zipped.read()) == await plain.read()
    assert orjson.loads(await plain.read()) == await world_map(client)
    not_modified = await raw_client.get(
        "/v0/devices/world_map",
        headers={"Accept-Encoding": "gzip", "If-None-Match": zipped.headers["ETag"]},
    )
    assert not_modified.status == 304


async def test_unversioned_path_serves_the_map(client, fleet, db_pool):
    await post(db_pool, fleet.devices[0].id)
    await until(client, ids_shown({fleet.devices[0].id}), "the posted device on the map")
    assert await world_map(client, "/devices/world_map") == await world_map(client)


# fresh_world_map ------------------------------------------------------------------------------


async def add_user(db_pool: storage_pool.Pool, name: str) -> tuple[int, str]:
    """Another user with an access token; returns (user id, token)."""
    token = tokens.new_token()
    async with db_pool.acquire() as conn:
        user_id = await conn.fetchval("INSERT INTO users (username) VALUES ($1) RETURNING id", name)
        await conn.execute(
            "INSERT INTO api_tokens (user_id, token_hash, kind) VALUES ($1, $2, 'access')",
            user_id,
            tokens.hash_token(token),
        )
    return user_id, token


async def test_fresh_world_map_needs_a_signed_in_user(client, fleet):
    response = await client.get("/v0/devices/fresh_world_map")
    assert response.status == 401
    assert (await response.json())["type"] == "authentication_error"
    bad = await client.get(
        "/v0/devices/fresh_world_map", headers={"Authorization": "Bearer not-a-token"}
    )
    assert bad.status == 401


async def test_fresh_world_map_adds_the_users_own_private_devices(client, fleet, db_pool):
    public, private = fleet.devices[0].id, fleet.devices[1].id
    async with db_pool.acquire() as conn:
        await conn.execute("UPDATE devices SET is_private = true WHERE id = $1", private)
    await post(db_pool, public)
    await post(db_pool, private)
    _, stranger = await add_user(db_pool, "stranger")
    path = "/v0/devices/fresh_world_map"

    await until(client, ids_shown({public}), "the public device on the public map")
    mine = {"Authorization": f"Bearer {fleet.access_token}"}
    theirs = {"Authorization": f"Bearer {stranger}"}
    await until(client, ids_shown({public, private}, path, **mine), "both on the owner's map")
    await until(client, ids_shown({public}, path, **theirs), "only the public one for others")

    owners = {entry["id"]: entry for entry in await world_map(client, path, **mine)}
    assert owners[private]["latitude"] == 52.358012  # precise for the owner
    assert owners[public]["latitude"] == 41.403629
    [others] = await world_map(client, path, **theirs)
    assert others["latitude"] == 41.404
    response = await client.get(path, headers=mine)
    assert "no-store" in response.headers["Cache-Control"]
    assert "ETag" not in response.headers


async def test_fresh_world_map_reads_the_owners_devices_now(client, fleet, db_pool):
    private = fleet.devices[2].id
    async with db_pool.acquire() as conn:
        await conn.execute("UPDATE devices SET is_private = true WHERE id = $1", private)
    await post(db_pool, private, value=1.0)
    mine = {"Authorization": f"Bearer {fleet.access_token}"}
    # No waiting here: the user's own devices are read per request, not from the snapshot.
    [entry] = await world_map(client, "/v0/devices/fresh_world_map", **mine)
    assert entry["data"]["55"] == 1.0
    await post(db_pool, private, value=2.0)
    [entry] = await world_map(client, "/v0/devices/fresh_world_map", **mine)
    assert entry["data"]["55"] == 2.0


async def test_fresh_world_map_gzips_for_clients_that_accept_it(
    client, fleet, db_pool, aiohttp_client
):
    await post(db_pool, fleet.devices[0].id)
    raw_client = await aiohttp_client(client.server, auto_decompress=False)
    response = await raw_client.get(
        "/v0/devices/fresh_world_map",
        headers={"Authorization": f"Bearer {fleet.access_token}", "Accept-Encoding": "gzip"},
    )
    assert response.headers["Content-Encoding"] == "gzip"
    [entry] = orjson.loads(gzip.decompress(await response.read()))
    assert entry["id"] == fleet.devices[0].id


async def test_the_refresher_is_a_named_background_task(client):
    names = {task.get_name() for task in asyncio.all_tasks()}
    assert "snapshot-refresher" in names
    assert client.app[worldmap.refresher_key].current is not None


async def test_map_rows_hold_their_arrays_as_json_text_and_nothing_the_collector_tracks(
    fleet, db_pool
):
    device = fleet.devices[0]
    await post(db_pool, device.id, 55, 21.5, raw_value=21.25)
    await post(db_pool, device.id, 56, 40.0)
    [found] = (await storage_worldmap.public_devices(db_pool)).rows
    assert found["id"] == device.id
    assert orjson.loads(found["sensor_ids"]) == [55, 56]
    assert orjson.loads(found["values"]) == [21.5, 40.0]
    assert orjson.loads(found["raw_values"]) == [21.25, 40.0]
    assert isinstance(found["user_tags"], str)
    # 20,000 tracked rows were walked by every collection: a stall of every request.
    assert not gc.is_tracked(found)


async def test_a_device_turns_offline_on_the_map_without_the_devices_being_read_again(
    query_app, fleet, db_pool, aiohttp_client, monkeypatch
):
    # Rebuilt by age every 0.2 s; a device is online for 2 s after it posted.
    monkeypatch.setattr(worldmap, "MAX_AGE_S", 0.2)
    reads: list[int] = []
    real = storage_worldmap.public_devices

    async def public_devices(pool, **kwargs):
        found = await real(pool, **kwargs)
        reads.append(len(found.rows))
        return found

    monkeypatch.setattr(storage_worldmap, "public_devices", public_devices)
    changed = count_changed_reads(monkeypatch)
    client = await aiohttp_client(query_app(online_window_s=2))
    device = fleet.devices[0]
    await post(db_pool, device.id, value=10.0)

    await until(client, status_is("online"), "the posted device online")
    read_before = len(reads), len(changed)
    await until(client, status_is("offline"), "the device offline, by age")
    # Aged from the rows read last: nothing changed in the database, so nothing was read.
    assert (len(reads), len(changed)) == read_before


def count_changed_reads(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """Note the ids of the rows each storage.worldmap.changed_devices read gives, from now on."""
    found: list[list[int]] = []
    real = storage_worldmap.changed_devices

    async def changed_devices(pool: Any, since: int, **kwargs: Any) -> storage_worldmap.Changes:
        changes = await real(pool, since, **kwargs)
        found.append([row["id"] for row in changes.rows])
        return changes

    monkeypatch.setattr(storage_worldmap, "changed_devices", changed_devices)
    return found


def count_full_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Note how many rows each storage.worldmap.public_devices read gives, from now on."""
    found: list[int] = []
    real = storage_worldmap.public_devices

    async def public_devices(pool: Any, **kwargs: Any) -> storage_worldmap.Read:
        read = await real(pool, **kwargs)
        found.append(len(read.rows))
        return read

    monkeypatch.setattr(storage_worldmap, "public_devices", public_devices)
    return found


async def changed_since(
    db_pool: storage_pool.Pool, since: int
) -> tuple[dict[int, dict[str, Any]], set[int]]:
    """The rows of the devices written since `since` that the map shows, by id, and the ids of
    those it does not show."""
    changes = await storage_worldmap.changed_devices(db_pool, since)
    return {row["id"]: row for row in changes.rows}, set(changes.hidden)


async def test_changed_devices_are_those_written_since_a_read(fleet, db_pool):
    first, second, *_ = (device.id for device in fleet.devices)
    await post(db_pool, first, value=10.0)
    await post(db_pool, second, value=10.0)
    read = await storage_worldmap.public_devices(db_pool)
    assert {row["id"] for row in read.rows} == {first, second}
    assert await changed_since(db_pool, read.horizon) == ({}, set())  # nothing written since

    await post(db_pool, first, value=11.0)
    since = (await storage_worldmap.changed_devices(db_pool, read.horizon)).horizon
    shown, hidden = await changed_since(db_pool, read.horizon)
    assert (set(shown), hidden) == ({first}, set())
    assert orjson.loads(shown[first]["values"]) == [11.0]
    assert set(shown[first]) == set(read.rows[0])  # a row as the full read's

    async with db_pool.acquire() as conn:
        await conn.execute("UPDATE devices SET is_private = true WHERE id = $1", second)
    assert await changed_since(db_pool, since) == ({}, {second})

    since = (await storage_worldmap.changed_devices(db_pool, since)).horizon
    async with db_pool.acquire() as conn:  # latest readings alone, as a recalibration does
        await conn.execute("UPDATE latest_readings SET value = 12.0 WHERE device_id = $1", first)
    shown, hidden = await changed_since(db_pool, since)
    assert (set(shown), hidden) == ({first}, set())
    assert orjson.loads(shown[first]["values"]) == [12.0]

    since = (await storage_worldmap.changed_devices(db_pool, since)).horizon
    async with db_pool.acquire() as conn:  # the owner renamed: each of their devices
        await conn.execute(
            "UPDATE users SET username = 'renamed' WHERE username = $1", demo.USERNAME
        )
        owned = {
            row[0]
            for row in await conn.fetch(
                "SELECT id FROM devices WHERE owner_id = "
                "(SELECT id FROM users WHERE username = 'renamed')"
            )
        }
    shown, hidden = await changed_since(db_pool, since)
    assert set(shown) == {first}  # the one the map shows
    assert hidden == owned - {first}
    assert shown[first]["owner_username"] == "renamed"

    since = (await storage_worldmap.changed_devices(db_pool, since)).horizon
    async with db_pool.acquire() as conn:  # the kit renamed: each device of that kit
        await conn.execute("UPDATE kits SET name = 'Renamed kit' WHERE id = $1", demo.SCK_2_1)
        of_kit = {
            row[0]
            for row in await conn.fetch("SELECT id FROM devices WHERE kit_id = $1", demo.SCK_2_1)
        }
    shown, hidden = await changed_since(db_pool, since)
    assert set(shown) == {first}
    assert hidden == of_kit - {first}
    assert shown[first]["kit_name"] == "Renamed kit"


async def test_after_a_change_the_map_reads_only_the_devices_written_since(
    query_app, fleet, db_pool, aiohttp_client, monkeypatch
):
    full = count_full_reads(monkeypatch)
    changed = count_changed_reads(monkeypatch)
    client = await aiohttp_client(query_app())
    first, second, *_ = (device.id for device in fleet.devices)
    await post(db_pool, first, value=10.0)
    await until(client, ids_shown({first}), "the posted device on the map")
    await post(db_pool, second, value=10.0)
    await until(client, ids_shown({first, second}), "the second device on the map")
    await post(db_pool, first, value=11.0)
    await until(client, value_is(first, 11.0), "the new reading on the map")

    assert full == [0]  # at start, when nothing had posted
    assert [first] in changed and [second] in changed
    assert {device for read in changed for device in read} == {first, second}


async def test_a_deletion_makes_the_map_read_every_device_again(
    query_app, fleet, db_pool, aiohttp_client, monkeypatch
):
    full = count_full_reads(monkeypatch)
    client = await aiohttp_client(query_app())
    device = fleet.devices[0].id
    await post(db_pool, device, 55, value=10.0)
    await post(db_pool, device, 56, value=20.0)
    await until(client, value_is(device, 10.0), "the posted device on the map")
    assert full == [0]

    # What no transaction id can show: a row gone (as when a deleted device is purged).
    async with db_pool.acquire() as conn:
        await conn.execute(
            "DELETE FROM latest_readings WHERE device_id = $1 AND sensor_id = 55", device
        )

    async def reading_gone(client: Any) -> bool:
        [entry] = await world_map(client)
        return "55" not in entry["data"] and entry["data"]["56"] == 20.0

    await until(client, reading_gone, "the deleted reading gone from the map")
    assert full == [0, 1]


def value_is(device_id: int, value: float, sensor_id: int = 55) -> Check:
    """A check that the map shows `device_id` with `value` for `sensor_id`."""

    async def check(client: Any) -> bool:
        entries = {entry["id"]: entry for entry in await world_map(client)}
        return device_id in entries and entries[device_id]["data"].get(str(sensor_id)) == value

    return check


def status_is(expected: str) -> Check:
    """A check that the first device on the map has the status `expected`."""

    async def check(client: Any) -> bool:
        entries = await world_map(client)
        return bool(entries) and entries[0]["status"] == expected

    return check
