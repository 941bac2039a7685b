"""Device documents kept in the query service: read once, dropped by every writer's change.

Each test changes what a kept document was read from by SQL on its own connection (as the
workers, another query process or an operator would) and awaits the answer that shows it.
"""

from __future__ import annotations

import psycopg
import pytest

from query import state
from storage import demo
from storage.queries import SQL
from tests.support import eventually


@pytest.fixture
async def fleet(db_pool):
    async with db_pool.acquire() as conn:
        return await demo.seed(conn)


@pytest.fixture
async def client(fleet, query_app, aiohttp_client):
    return await listening_client(query_app, aiohttp_client)


async def listening_client(query_app, aiohttp_client, **settings):
    """A client of a query app that has started listening for document changes."""
    client = await aiohttp_client(query_app(**settings))
    documents = client.server.app[state.documents]

    async def listening():
        return documents.watched

    await eventually(listening, what="the query service listening for document changes")
    return client


def documents_of(client):
    return client.server.app[state.documents]


async def kept_document(client, device_id):
    """The device's document once it is answered from memory (a read that overlapped a
    notification, such as those of the test's own set-up, is not kept: it is read again)."""
    documents = documents_of(client)

    async def from_memory():
        reads = documents.reads
        response = await client.get(f"/v0/devices/{device_id}")
        assert response.status == 200
        return documents.reads == reads and await response.json()

    return await eventually(from_memory, what=f"device {device_id}'s document kept")


async def document_becomes(client, device_id, check, what):
    async def changed():
        response = await client.get(f"/v0/devices/{device_id}")
        return check(response.status, await response.json())

    await eventually(changed, within_s=10.0, what=what)


def execute(dsn, statement, *arguments):
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(statement, arguments)


def sensor(body, sensor_id):
    return next((s for s in body["data"]["sensors"] if s["id"] == sensor_id), None)


async def test_a_document_is_read_once_then_answered_from_memory(client, fleet):
    device = fleet.devices[0]
    documents = documents_of(client)
    body = await kept_document(client, device.id)
    assert body["id"] == device.id
    assert len(documents) == 1
    assert (documents.requests, documents.reads) == (2, 1)
    # Asked for afresh, it is read again.
    response = await client.get(f"/v0/devices/{device.id}", headers={"Cache-Control": "no-cache"})
    assert response.status == 200
    assert documents.reads == 2
    assert await response.json() == body


# Each writer of a document's rows: the statement, and what the document shows after it.
WRITERS = {
    "device renamed": (
        "UPDATE devices SET name = 'Renamed' WHERE id = %s",
        lambda status, body: status == 200 and body["name"] == "Renamed",
    ),
    "device deleted": (
        "UPDATE devices SET deleted_at = now() WHERE id = %s",
        lambda status, body: status == 404,
    ),
    "latest reading stored": (
        "INSERT INTO latest_readings (device_id, sensor_id, time, raw_value, value)"
        " VALUES (%s, 55, '2024-05-01T12:00:00Z', 21.5, 21.25)",
        lambda status, body: sensor(body, 55)["value"] == 21.25,
    ),
    "component added": (
        "INSERT INTO components (device_id, sensor_id, key)"
        " SELECT d.id, min(s.id), 'extra' FROM devices d, sensors s WHERE d.id = %s"
        " AND s.id NOT IN (SELECT sensor_id FROM kit_sensors WHERE kit_id = d.kit_id)"
        " GROUP BY d.id",
        lambda status, body: any(s["default_key"] == "extra" for s in body["data"]["sensors"]),
    ),
    "owner renamed": (
        "UPDATE users SET username = 'renamed_owner'"
        " WHERE id = (SELECT owner_id FROM devices WHERE id = %s)",
        lambda status, body: body["owner"]["username"] == "renamed_owner",
    ),
    "kit renamed": (
        "UPDATE kits SET name = 'Renamed kit'"
        " WHERE id = (SELECT kit_id FROM devices WHERE id = %s)",
        lambda status, body: body["kit"]["name"] == "Renamed kit",
    ),
    "kit sensor removed": (
        "DELETE FROM kit_sensors"
        " WHERE sensor_id = 55 AND kit_id = (SELECT kit_id FROM devices WHERE id = %s)",
        lambda status, body: sensor(body, 55) is None,
    ),
    "sensor renamed": (
        "UPDATE sensors SET name = 'Renamed sensor' WHERE id = 55 AND %s IS NOT NULL",
        lambda status, body: sensor(body, 55)["name"] == "Renamed sensor",
    ),
    "measurement renamed": (
        "UPDATE measurements SET name = 'Renamed measurement'"
        " WHERE id = (SELECT measurement_id FROM sensors WHERE id = 55) AND %s IS NOT NULL",
        lambda status, body: sensor(body, 55)["measurement"]["name"] == "Renamed measurement",
    ),
}


@pytest.mark.parametrize("writer", WRITERS)
async def test_every_writer_of_a_document_drops_it(client, fleet, database_dsn, writer):
    device = fleet.devices[0]
    statement, shows_change = WRITERS[writer]
    body = await kept_document(client, device.id)
    assert not shows_change(200, body), "the change is there before it is made"
    execute(database_dsn, statement, device.id)
    await document_becomes(client, device.id, shows_change, f"the document after: {writer}")
    assert documents_of(client).watched


async def test_a_change_drops_only_the_devices_it_names(client, fleet, database_dsn):
    changed, untouched = fleet.devices[0], fleet.devices[1]
    await kept_document(client, changed.id)
    await kept_document(client, untouched.id)
    documents = documents_of(client)
    execute(database_dsn, "UPDATE devices SET name = 'Renamed' WHERE id = %s", changed.id)
    await document_becomes(
        client, changed.id, lambda status, body: body["name"] == "Renamed", "the rename"
    )
    reads = documents.reads
    assert (await client.get(f"/v0/devices/{untouched.id}")).status == 200
    assert documents.reads == reads


async def test_a_write_through_the_service_is_read_back_at_once(client, fleet, monkeypatch):
    device = fleet.devices[0]
    await kept_document(client, device.id)
    # The write's own notification comes late (it is not delivered at all here).
    monkeypatch.setattr(documents_of(client), "invalidate", lambda change: None)
    headers = {"Authorization": f"Bearer {fleet.access_token}"}
    path = f"/v0/devices/{device.id}"
    response = await client.patch(path, json={"name": "Edited"}, headers=headers)
    assert response.status == 200
    # No waiting for the notification: this process dropped what it kept when it answered.
    body = await (await client.get(path)).json()
    assert body["name"] == "Edited"


async def test_a_lost_listener_reads_every_document_until_it_listens_again(
    client, fleet, database_dsn
):
    device = fleet.devices[0]
    documents = documents_of(client)
    await kept_document(client, device.id)
    listens = documents.listens
    # The listener's last statement is its LISTEN, or its heartbeat once one was sent.
    execute(
        database_dsn,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database()"
        " AND (query ILIKE 'LISTEN%%sensorium_documents%%' OR query = %s)",
        SQL["listener_ping"],
    )
    # Changed while nobody may be listening: no notification will ever name it.
    execute(database_dsn, "UPDATE devices SET name = 'Unheard' WHERE id = %s", device.id)

    async def listening_again():
        return documents.watched and documents.listens > listens

    await eventually(listening_again, what="the query service listening again")
    body = await (await client.get(f"/v0/devices/{device.id}")).json()
    assert body["name"] == "Unheard"


async def test_a_device_that_does_not_exist_yet_is_found_once_created(client, fleet, database_dsn):
    missing = max(d.id for d in fleet.devices) + 1000
    for _ in range(2):
        assert (await client.get(f"/v0/devices/{missing}")).status == 404
    execute(
        database_dsn,
        "INSERT INTO devices (id, name, owner_id, kit_id)"
        " SELECT %s, 'Late', owner_id, kit_id FROM devices WHERE id = %s",
        missing,
        fleet.devices[0].id,
    )
    await document_becomes(
        client, missing, lambda status, body: status == 200, "the new device's document"
    )


async def test_a_kept_document_still_tells_its_status_by_the_clock(
    fleet, query_app, aiohttp_client, database_dsn
):
    client = await listening_client(query_app, aiohttp_client, online_window_s=2)
    device = fleet.devices[0]
    execute(
        database_dsn,
        "UPDATE devices SET last_reading_at = now(), last_posted_at = now() WHERE id = %s",
        device.id,
    )
    await document_becomes(
        client, device.id, lambda status, body: body["status"] == "online", "online"
    )
    assert (await kept_document(client, device.id))["status"] == "online"
    reads = documents_of(client).reads
    # Two seconds without a post: offline, told by the clock from what is kept.
    await document_becomes(
        client, device.id, lambda status, body: body["status"] == "offline", "offline"
    )
    assert documents_of(client).reads == reads


async def test_the_channel_names_each_device_written_in_notifications_that_fit(fleet, database_dsn):
    """700 devices updated by one statement: every id is named, at most 300 a notification
    (PostgreSQL refuses payloads of 8,000 bytes or more)."""
    with psycopg.connect(database_dsn, autocommit=True) as conn:
        owner_and_kit = conn.execute("SELECT owner_id, kit_id FROM devices LIMIT 1").fetchone()
        ids = [
            row[0]
            for row in conn.execute(
                "INSERT INTO devices (name, owner_id, kit_id)"
                " SELECT 'bulk ' || g, %s, %s FROM generate_series(1, 700) g RETURNING id",
                owner_and_kit,
            ).fetchall()
        ]
        conn.execute("LISTEN sensorium_documents_changed")
        conn.execute("UPDATE devices SET name = name || '!' WHERE name LIKE 'bulk %%'")
        payloads = [n.payload for n in conn.notifies(timeout=2.0, stop_after=3)]
    assert all(p.startswith("devices:") for p in payloads)
    named = [int(i) for p in payloads for i in p.removeprefix("devices:").split(",")]
    assert sorted(named) == sorted(ids)
    assert max(len(p.split(",")) for p in payloads) <= 300
    assert len(payloads) == 3


async def test_the_kept_anonymous_answer_is_never_the_owners(client, fleet):
    device = fleet.devices[0]
    path = f"/v0/devices/{device.id}"
    assert (await kept_document(client, device.id))["mac_address"] == "[FILTERED]"
    owner = {"Authorization": f"Bearer {fleet.access_token}"}
    assert (await (await client.get(path, headers=owner)).json())["mac_address"] == (
        device.mac_address
    )
    assert (await (await client.get(path)).json())["mac_address"] == "[FILTERED]"
