"""POST /v0/devices/{id}/readings through real HTTP into the real staging table."""

from __future__ import annotations

import asyncio
import gzip
import logging

import orjson
import pytest

from ingest import gateway
from storage import packing

T0 = "2024-03-01T10:00:00Z"
T0_US = 1_709_287_200_000_000


def body(*entries):
    return orjson.dumps({"data": list(entries)})


def entry(recorded_at=T0, **values):
    return {
        "recorded_at": recorded_at,
        "sensors": [{"id": k, "value": v} for k, v in values.items()],
    }


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


async def staged(db_pool):
    rows = await db_pool.fetch(
        "SELECT device_id, n_readings, payload FROM ingest_batches ORDER BY id"
    )
    return [
        (row["device_id"], row["n_readings"], packing.unpack_readings(row["payload"]))
        for row in rows
    ]


async def post(client, device_id, data, token, **headers):
    return await client.post(
        f"/v0/devices/{device_id}/readings", data=data, headers={**bearer(token), **headers}
    )


async def test_a_batch_is_staged_and_acknowledged(client, world, db_pool):
    data = orjson.dumps(
        {
            "data": [
                {
                    "recorded_at": T0,
                    "sensors": [{"id": 12, "value": 25132}, {"id": "hum", "value": "40.5"}],
                },
                {
                    "recorded_at": "2024-03-01T12:00:01+02:00",
                    "sensors": [{"id": "12", "value": 1.5}],
                },
            ]
        }
    )
    response = await post(client, world.device_id, data, world.device_token)
    assert response.status == 200
    assert await response.json() == {
        "id": "ok",
        "message": "3 readings accepted",
        "url": "",
        "errors": "",
        "accepted": 3,
        "rejected": [],
    }
    assert response.headers["X-Request-ID"]
    [(device_id, n_readings, readings)] = await staged(db_pool)
    assert (device_id, n_readings) == (world.device_id, 3)
    assert readings.times.tolist() == [T0_US, T0_US, T0_US + 1_000_000]
    assert readings.sensor_ids.tolist() == [12, 13, 12]
    assert readings.values.tolist() == [25132.0, 40.5, 1.5]


async def test_rejected_readings_are_listed_and_the_rest_staged(client, world, db_pool):
    data = body(entry(temp=1, nope=2, hum="wet"), entry("1999-01-01T00:00:00Z", temp=3))
    response = await post(client, world.device_id, data, world.device_token)
    assert response.status == 200
    payload = await response.json()
    assert payload["accepted"] == 1
    assert payload["rejected"] == [
        {"index": 0, "sensor": "nope", "reason": "unknown sensor"},
        {"index": 0, "sensor": "hum", "reason": "value is not a number"},
        {"index": 1, "sensor": "temp", "reason": "recorded_at is before 2000-01-01"},
    ]
    [(_, n_readings, readings)] = await staged(db_pool)
    assert n_readings == 1
    assert readings.values.tolist() == [1.0]


@pytest.mark.parametrize("token_name", ["owner_token", "owner_key", "admin_token"])
async def test_owner_and_admin_tokens_may_post(client, world, db_pool, token_name):
    response = await post(client, world.device_id, body(entry(temp=1)), getattr(world, token_name))
    assert response.status == 200
    assert len(await staged(db_pool)) == 1


@pytest.mark.parametrize(
    "header",
    ["token owner-access-token", "Token token=owner-access-token", "bearer device-token-1"],
)
async def test_other_authorization_forms(client, world, header):
    response = await client.post(
        f"/v0/devices/{world.device_id}/readings",
        data=body(entry(temp=1)),
        headers={"Authorization": header},
    )
    assert response.status == 200


@pytest.mark.parametrize("token_name", ["other_token", "other_device_token"])
async def test_someone_elses_token_is_forbidden(client, world, db_pool, token_name):
    response = await post(client, world.device_id, body(entry(temp=1)), getattr(world, token_name))
    assert response.status == 403
    assert (await response.json())["id"] == "forbidden"
    assert await staged(db_pool) == []


async def test_no_credentials_is_unauthorized(client, world, db_pool):
    response = await client.post(
        f"/v0/devices/{world.device_id}/readings?access_token={world.device_token}",
        data=body(entry(temp=1)),
    )
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    error = await response.json()
    assert error["object"] == "error"
    assert error["id"] == "unauthorized"
    assert "access_token in the URL is not accepted" in error["message"]
    assert error["request_id"] == response.headers["X-Request-ID"]
    assert await staged(db_pool) == []


@pytest.mark.parametrize("token_name", ["refresh_token", "revoked_token", "expired_token", "mac"])
async def test_invalid_tokens_are_unauthorized(client, world, db_pool, token_name):
    response = await post(client, world.device_id, body(entry(temp=1)), getattr(world, token_name))
    assert response.status == 401
    assert (await response.json())["code"] == "invalid_token"
    assert await staged(db_pool) == []


@pytest.mark.parametrize("which", ["unknown", "deleted"])
async def test_unknown_and_deleted_devices_are_not_found(client, world, which):
    device_id = world.deleted_device_id if which == "deleted" else 999_999
    response = await post(client, device_id, body(entry(temp=1)), world.admin_token)
    assert response.status == 404
    assert (await response.json())["id"] == "record_not_found"


async def test_a_device_id_in_digits_of_another_script_is_not_found(client, world, db_pool):
    # The device's own id written in Arabic-Indic digits, which Python's int() reads.
    arabic = str(world.device_id).translate({ord("0") + d: 0x0660 + d for d in range(10)})
    assert int(arabic) == world.device_id
    response = await post(client, arabic, body(entry(temp=1)), world.device_token)
    assert response.status == 404
    assert (await response.json())["id"] == "record_not_found"
    assert await staged(db_pool) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"data": [', "Malformed JSON body"),
        (b'{"readings": []}', "data is missing"),
        (
            b'{"data": [{"recorded_at": "2024-03-01", "sensors": 5}]}',
            "data[0].sensors must be a list",
        ),
    ],
)
async def test_malformed_bodies_are_bad_requests(client, world, db_pool, data, message):
    response = await post(client, world.device_id, data, world.device_token)
    assert response.status == 400
    error = await response.json()
    assert error["id"] == "bad_request"
    assert error["message"].startswith(message)
    assert await staged(db_pool) == []


async def test_a_batch_with_nothing_valid_is_unprocessable(client, world, db_pool):
    data = body(entry(temp="x", nope=1), entry("2999-01-01T00:00:00Z", hum=1))
    response = await post(client, world.device_id, data, world.device_token)
    assert response.status == 422
    error = await response.json()
    assert error["id"] == "unprocessable_entity"
    assert error["accepted"] == 0
    assert [r["sensor"] for r in error["rejected"]] == ["temp", "nope", "hum"]
    assert await staged(db_pool) == []


async def test_a_batch_of_nulls_stages_nothing(client, world, db_pool):
    response = await post(client, world.device_id, body(entry(temp=None)), world.device_token)
    assert response.status == 200
    assert (await response.json())["accepted"] == 0
    assert await staged(db_pool) == []


async def test_gzip_bodies_are_accepted(client, world, db_pool):
    data = gzip.compress(body(entry(temp=1, hum=2)))
    response = await post(
        client, world.device_id, data, world.device_token, **{"Content-Encoding": "gzip"}
    )
    assert response.status == 200
    [(_, n_readings, _)] = await staged(db_pool)
    assert n_readings == 2


async def test_a_gzip_bomb_is_too_large(world, make_client, db_pool):
    client = await make_client(max_body_bytes=1024 * 1024)
    padding = b" " * (64 * 1024 * 1024)  # valid JSON whitespace: 64 MiB in about 64 KiB
    bomb = gzip.compress(body(entry(temp=1))[:-1] + padding + b"}", 9)
    assert len(bomb) < 1024 * 1024
    response = await post(
        client, world.device_id, bomb, world.device_token, **{"Content-Encoding": "gzip"}
    )
    assert response.status == 413
    assert (await response.json())["id"] == "payload_too_large"
    assert await staged(db_pool) == []


async def test_a_plain_body_said_to_be_gzip_is_a_bad_request(client, world, db_pool, caplog):
    response = await post(
        client,
        world.device_id,
        body(entry(temp=1)),
        world.device_token,
        **{"Content-Encoding": "gzip"},
    )
    assert response.status == 400
    error = await response.json()
    assert error["code"] == "invalid_gzip"
    assert error["message"].startswith("The body is not valid gzip")
    assert "message:" not in error["message"]  # no aiohttp exception text
    assert await staged(db_pool) == []
    # The body was read to its end: the device's connection carries its next post, and nothing
    # is logged as a failure of the server.
    assert response.headers.get("Connection") != "close"
    again = await post(client, world.device_id, body(entry(temp=1)), world.device_token)
    assert again.status == 200
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_an_oversized_body_is_too_large(world, make_client, db_pool):
    client = await make_client(max_body_bytes=4096)
    data = body(*(entry(f"2024-03-01T10:{i // 60:02d}:{i % 60:02d}Z", temp=i) for i in range(200)))
    assert len(data) > 4096
    response = await post(client, world.device_id, data, world.device_token)
    assert response.status == 413
    error = await response.json()
    assert error["id"] == "payload_too_large"
    assert response.headers["X-Request-ID"] == error["request_id"]
    assert await staged(db_pool) == []


# br and zstd too: aiohttp's own decoding, without their libraries, answered those itself with
# a plain-text 400 and logged a traceback.
@pytest.mark.parametrize("encoding", ["compress", "br", "zstd", "deflate"])
async def test_other_encodings_are_unsupported(client, world, db_pool, encoding, caplog):
    response = await post(
        client,
        world.device_id,
        body(entry(temp=1)),
        world.device_token,
        **{"Content-Encoding": encoding},
    )
    assert response.status == 415
    assert (await response.json())["id"] == "unsupported_media_type"
    assert response.headers.get("Connection") != "close"
    assert await staged(db_pool) == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_concurrent_requests_share_commits(world, make_client, db_pool):
    requests = 50
    client = await make_client(commit_wait_ms=200, commit_max_readings=requests * 2)
    stager = client.app[gateway.key].stager
    responses = await asyncio.gather(
        *(
            post(
                client,
                world.device_id,
                body(entry(f"2024-03-01T10:00:{i:02d}Z", temp=i, hum=i)),
                world.device_token,
            )
            for i in range(requests)
        )
    )
    assert [response.status for response in responses] == [200] * requests
    rows = await staged(db_pool)
    assert len(rows) == requests
    assert sorted(int(readings.values[0]) for _, _, readings in rows) == list(range(requests))
    assert stager.batches == requests
    assert stager.flushes < requests
