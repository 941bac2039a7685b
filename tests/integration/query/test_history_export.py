"""format=csv and format=ndjson: streamed, parsed back and compared with the stored rows."""

from __future__ import annotations

import contextlib
import csv
import io
from datetime import UTC, datetime, timedelta

import aiohttp
import orjson
import pytest

from storage import demo
from storage import errors as storage_errors
from storage import history as storage_history
from tests.integration.query import history_support as support

START = datetime(2024, 5, 1, tzinfo=UTC)
SPAN = "from=2024-05-01&to=2024-05-02"


@pytest.fixture
async def fleet(db_pool):
    async with db_pool.acquire() as conn:
        return await demo.seed(conn)


@pytest.fixture
async def client(query_app, aiohttp_client):
    return await support.history_client(aiohttp_client, query_app)


@pytest.fixture
async def rows(db_pool, fleet):
    """A day of irregular readings of sensors 55 and 56 of device 0, rolled up."""
    device = fleet.devices[0].id
    found = support.irregular_rows(device, 55, START, START + timedelta(days=1), seed=1)
    found += support.irregular_rows(device, 56, START, START + timedelta(days=1), seed=2)
    async with db_pool.acquire() as conn:
        await support.insert_readings(conn, found)
        await support.fill_rollups(conn)
    return found


def _stored(rows, sensor_id):
    """The rows of one sensor of device 0 newest first, as (time, value, raw_value)."""
    picked = [(t, value, raw) for t, _, sensor, raw, value in rows if sensor == sensor_id]
    return sorted(picked, reverse=True)


def _number(text):
    return None if text == "" else float(text)


async def _csv(client, url):
    response = await client.get(url)
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(await response.text())))


async def _ndjson(client, url):
    response = await client.get(url)
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"] == "application/x-ndjson; charset=utf-8"
    text = await response.text()
    assert text.endswith("\n")
    return [orjson.loads(line) for line in text.splitlines()]


async def test_csv_of_stored_readings_has_every_row_in_the_documented_columns(client, fleet, rows):
    device = fleet.devices[0].id
    table = await _csv(client, f"/v0/devices/{device}/readings?sensor_id=55&format=csv&{SPAN}")
    assert table[0] == ["timestamp", "sensor_id", "sensor_key", "value", "raw_value"]
    got = [
        (support.parse_time(t.replace("Z", "+00:00")), int(s), k, _number(v), _number(r))
        for t, s, k, v, r in table[1:]
    ]
    expected = [(t, 55, "temp", value, raw) for t, value, raw in _stored(rows, 55)]
    assert got == expected
    assert any(v is None for _, _, _, v, _ in got)  # blanks survive as empty fields


async def test_ndjson_of_stored_readings_matches_the_csv(client, fleet, rows):
    device = fleet.devices[0].id
    url = f"/v0/devices/{device}/readings?sensor_id=55,56&{SPAN}"
    lines = await _ndjson(client, f"{url}&format=ndjson")
    table = await _csv(client, f"{url}&format=csv")
    assert all(list(line) == table[0] for line in lines)
    assert [[str(v) for v in line.values()] for line in lines] == [
        [t, s, k, str(_number(v)), str(_number(r))] for t, s, k, v, r in table[1:]
    ]
    # series in the order asked, each newest first
    expected = [(55, t, v, r) for t, v, r in _stored(rows, 55)]
    expected += [(56, t, v, r) for t, v, r in _stored(rows, 56)]
    got = [
        (line["sensor_id"], support.parse_time(line["timestamp"]), line["value"], line["raw_value"])
        for line in lines
    ]
    assert got == expected
    assert {line["sensor_key"] for line in lines} == {"temp", "hum"}


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
async def test_rolled_up_exports_carry_the_json_answer_and_counts(client, fleet, rows, fmt):
    device = fleet.devices[0].id
    query = f"sensor_id=56&rollup=1h&function=dev&tz=Europe/Madrid&{SPAN}"
    body = await (await client.get(f"/v0/devices/{device}/readings?{query}")).json()
    url = f"/v0/devices/{device}/readings?{query}&format={fmt}"
    if fmt == "csv":
        table = await _csv(client, url)
        assert table[0] == ["timestamp", "sensor_id", "sensor_key", "value", "count"]
        exported = [[t, int(s), k, _number(v), int(n)] for t, s, k, v, n in table[1:]]
    else:
        exported = [list(line.values()) for line in await _ndjson(client, url)]
    assert [[t, v] for t, _, _, v, _ in exported] == body["readings"]
    assert {(s, k) for _, s, k, _, _ in exported} == {(56, "hum")}
    assert sum(n for *_, n in exported) == body["sample_size"]
    counts, _ = support.brute_force(
        rows,
        device_id=device,
        sensor_id=56,
        rollup="1h",
        tz=None,
        start=START - timedelta(hours=2),  # local midnight in Madrid in May
        end=START + timedelta(hours=22),
        function="count",
    )
    assert [n for *_, n in exported] == [n for _, n in counts]


async def test_an_export_with_all_intervals_gives_empty_buckets_a_zero_count(client, fleet, rows):
    device = fleet.devices[0].id
    lines = await _ndjson(
        client,
        f"/v0/devices/{device}/readings?sensor_id=55&rollup=1m&all_intervals=true"
        "&from=2024-05-01T10:00:00Z&to=2024-05-01T11:00:00Z&format=ndjson",
    )
    assert len(lines) == 60
    assert lines[0]["timestamp"] == "2024-05-01T10:59:00Z"
    assert lines[-1]["timestamp"] == "2024-05-01T10:00:00Z"
    empty = [line for line in lines if line["count"] == 0]
    assert empty and all(line["value"] is None for line in empty)
    stored = [t for t, v, _ in _stored(rows, 55) if t.hour == 10 and v is not None]
    assert sum(line["count"] for line in lines) == len(stored)


async def test_limit_applies_to_each_exported_series(client, fleet, rows):
    device = fleet.devices[0].id
    table = await _csv(
        client, f"/v0/devices/{device}/readings?sensor_id=55,56&limit=3&format=csv&{SPAN}"
    )
    assert [int(row[1]) for row in table[1:]] == [55, 55, 55, 56, 56, 56]


async def test_a_large_range_streams_every_row(client, fleet, db_pool):
    device = fleet.devices[0].id
    n = 200_000
    async with db_pool.acquire() as conn:
        await support.insert_readings(
            conn,
            [(START + timedelta(seconds=i), device, 55, float(i), float(i)) for i in range(n)],
        )
    response = await client.get(
        f"/v0/devices/{device}/readings?sensor_id=55&format=csv&from=2024-05-01&to=2024-05-04"
    )
    assert response.status == 200
    assert response.headers["Transfer-Encoding"] == "chunked"  # streamed, not buffered
    lines = 0
    first = last = b""
    async for line in response.content:
        if lines == 1:
            first = line
        last = line
        lines += 1
    assert lines == n + 1
    assert first == f"2024-05-03T07:33:19Z,55,temp,{n - 1.0},{n - 1.0}\r\n".encode()
    assert last == b"2024-05-01T00:00:00Z,55,temp,0.0,0.0\r\n"
    ndjson = await client.get(
        f"/v0/devices/{device}/readings?sensor_id=55&rollup=1m&function=count&format=ndjson"
        "&from=2024-05-01&to=2024-05-04"
    )
    counts = [orjson.loads(line)["count"] for line in (await ndjson.read()).splitlines()]
    assert len(counts) == -(-n // 60)
    assert sum(counts) == n


async def test_a_failure_mid_stream_cuts_the_body_short(client, fleet, rows, monkeypatch):
    real = storage_history.stream_readings

    async def failing(*args, **kwargs):
        async with contextlib.aclosing(real(*args, **kwargs)) as batches:
            async for batch in batches:
                yield batch
                raise storage_errors.StorageUnavailable("connection lost")

    monkeypatch.setattr(storage_history, "stream_readings", failing)
    device = fleet.devices[0].id
    response = await client.get(f"/v0/devices/{device}/readings?sensor_id=55&format=csv&{SPAN}")
    assert response.status == 200
    with pytest.raises(aiohttp.ClientPayloadError):
        await response.read()


async def test_a_private_device_exports_only_to_its_owner(client, fleet, db_pool, rows):
    device = fleet.devices[0].id
    async with db_pool.acquire() as conn:
        await conn.execute("UPDATE devices SET is_private = true WHERE id = $1", device)
    url = f"/v0/devices/{device}/readings?sensor_id=55&format=ndjson&{SPAN}"
    assert (await client.get(url)).status == 404
    owner = await client.get(url, headers={"Authorization": f"Bearer {fleet.access_token}"})
    assert owner.status == 200
    assert len((await owner.read()).splitlines()) == len(_stored(rows, 55))


async def test_head_answers_the_headers_without_reading_the_range(client, fleet, rows, monkeypatch):
    read = []
    monkeypatch.setattr(storage_history, "stream_readings", lambda *a, **k: read.append(a))
    device = fleet.devices[0].id
    response = await client.head(f"/v0/devices/{device}/readings?sensor_id=55&format=csv&{SPAN}")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="device-{device}-readings.csv"'
    )
    assert response.headers["X-Request-ID"]
    assert await response.read() == b""
    assert read == []


async def test_an_unknown_key_exports_nothing_but_the_header(client, fleet, rows):
    device = fleet.devices[0].id
    table = await _csv(
        client, f"/v0/devices/{device}/readings?sensor_key=nothing&format=csv&{SPAN}"
    )
    assert table == [["timestamp", "sensor_id", "sensor_key", "value", "raw_value"]]
