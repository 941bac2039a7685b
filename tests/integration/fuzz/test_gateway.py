"""Bad input at every endpoint of the gateway: never a 5xx, every refusal in the error model,
and nothing non-finite or out of range ever staged or stored (the workers process what was
staged after each example)."""

from __future__ import annotations

import gzip
import io
import math
import zlib

import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st

from ingest import app as ingest_app
from ingest import config as ingest_config
from ingest import parsing
from storage import packing
from tests.integration.fuzz import strategies
from tests.integration.fuzz.conftest import UNLIMITED
from tests.integration.fuzz.support import FEW, MANY, answer, check_error
from workers import config as workers_config
from workers import processing
from workers.catalogue import Catalogue

MIB = 1024 * 1024


@pytest.fixture
def process(db_pool, db_settings):
    """Run the workers over everything staged, then check staging and readings are sane."""
    settings = workers_config.WorkerSettings(db=db_settings, max_attempts=1)
    catalogue = Catalogue(settings.catalogue_refresh_s)

    async def process_and_check() -> None:
        async with db_pool.acquire() as conn:
            payloads = await conn.fetch("SELECT payload FROM ingest_batches")
        for row in payloads:
            readings = packing.unpack_readings(row["payload"])
            assert all(math.isfinite(v) for v in readings.values.tolist()), readings
            assert all(t >= parsing.MIN_TIME_US for t in readings.times.tolist()), readings
        await processing.process_available(db_pool, catalogue, settings)
        async with db_pool.acquire() as conn:
            bad = await conn.fetch(
                "SELECT * FROM readings WHERE raw_value IN ('NaN', 'Infinity', '-Infinity')"
                " OR value IN ('NaN', 'Infinity', '-Infinity')"
                " OR time < '2000-01-01' OR time > now() + interval '1 day 1 minute'"
            )
            dead = await conn.fetch("SELECT error FROM dead_letters")
        assert not bad, bad
        assert not dead, dead

    return process_and_check


def _credentials(world, which: str) -> dict[str, str]:
    return {
        "device": {"Authorization": f"Bearer {world.device_token}"},
        "owner key": {"Authorization": f"Bearer {world.owner_key}"},
        "unknown": {"Authorization": "Bearer not-a-token"},
        "basic": {"Authorization": "Basic b3duZXI6eA=="},
        "long": {"Authorization": "Bearer " + "x" * 5000},
        "none": {},
    }[which]


def _device(world, which: str) -> int:
    return {"public": world.public, "private": world.private, "missing": 999_999}.get(
        which, 2**63 if which == "past int64" else 10**30
    )


async def post_readings(gateway_client, world, body: bytes | str):
    """Post `body` as the public device's readings, with its token; the response, its status
    and its body, checked by `answer`. A file object, since aiohttp warns (an error here) when
    given more than 1 MiB of bytes at once."""
    data = body.encode() if isinstance(body, str) else body
    response = await gateway_client.post(
        f"/v0/devices/{world.public}/readings",
        data=io.BytesIO(data),
        headers={"Authorization": f"Bearer {world.device_token}"},
    )
    status, raw = await answer(response)
    return response, status, raw


# Every draw is an argument of the test (none interactive), so the examples replay exactly.
@MANY
@given(
    body=strategies.bodies(),
    credential=st.sampled_from(["device"] * 3 + ["owner key", "unknown", "basic", "long", "none"]),
    content_type=st.sampled_from(
        ["application/json", "text/plain", "application/json; charset=latin-1"]
    ),
    device=st.sampled_from(["public"] * 8 + ["private", "missing", "past int64", "huge"]),
    gzipped=st.booleans(),
)
# The largest body the strategies make: 1.2 MB of nested objects.
@example(
    body=strategies.nested(200_000, "object"),
    credential="device",
    content_type="application/json",
    device="public",
    gzipped=False,
)
async def test_readings_posts(
    gateway_client, world, process, body, credential, content_type, device, gzipped
):
    headers = {**_credentials(world, credential), "Content-Type": content_type}
    if gzipped:
        body, headers["Content-Encoding"] = gzip.compress(body), "gzip"
    # A file object: aiohttp warns (an error here) when given more than 1 MiB of bytes at once,
    # and a deeply nested body can be that large.
    response = await gateway_client.post(
        f"/v0/devices/{_device(world, device)}/readings", data=io.BytesIO(body), headers=headers
    )
    status, _ = await answer(response)
    event(f"status {status}")
    if status == 200:
        await process()


async def test_every_non_finite_value_is_rejected_one_reading_at_a_time(
    gateway_client, world, process
):
    values = [*strategies.NON_FINITE_TOKENS, "NaN", "inf", "-Infinity", "1e400", "-1e400"]
    items = ",".join(
        strategies.encode({"id": 55, "value": value}) for value in [*values, strategies.Raw("7")]
    )
    body = (
        '{"data":[{"recorded_at":"2024-05-01T10:00:00Z","sensors":[{"id":56,"value":1.5}]},'
        f'{{"recorded_at":"2024-05-01T10:01:00Z","sensors":[{items}]}}]}}'
    )
    response, status, raw = await post_readings(gateway_client, world, body)
    assert status == 200, raw
    document = await response.json()
    assert document["accepted"] == 2, document
    assert [r["reason"] for r in document["rejected"]] == ["value is not finite"] * len(values)
    await process()


@FEW
@given(data=st.data())
async def test_legacy_posts(gateway_client, world, process, data):
    readings = data.draw(
        st.one_of(
            st.lists(
                st.dictionaries(
                    st.sampled_from(["temp", "hum", "noise", "timestamp", "x"]),
                    strategies.SCALARS | strategies.TIMESTAMPS,
                    max_size=5,
                ),
                max_size=4,
            ).map(strategies.encode),
            st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=200),
        ),
        label="X-SmartCitizenData",
    )
    mac = data.draw(st.sampled_from(["02:00:00:00:0c:01", "02-00-00-00-0C-01", "zz", ""]))
    method = data.draw(st.sampled_from(["GET", "POST", "PUT"]))
    path = data.draw(st.sampled_from(["/add", "/v0/add"]))
    response = await gateway_client.request(
        method,
        path,
        headers={"X-SmartCitizenMacADDR": mac, "X-SmartCitizenData": readings},
    )
    await answer(response)
    await process()


# fmt: off
PATHS = ["/datetime", "/v0/datetime", "/health", "/ready", "/v0/devices/1/readings", "/nope",
         "/v0/devices/abc/readings", "/v0/devices/-1/readings", "/%00", "/v0/devices/%ff"]
# fmt: on


@FEW
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]),
    path=st.sampled_from(PATHS),
    query=st.dictionaries(st.text(max_size=8), st.text(max_size=20), max_size=3),
)
async def test_any_method_any_path(gateway_client, method, path, query):
    response = await gateway_client.request(method, path, params=query)
    await answer(response)


async def test_a_body_over_the_limit_is_a_413(gateway_client, world):
    body = b'{"data":[' + b" " * (10 * MIB) + b"]}"
    _, status, raw = await post_readings(gateway_client, world, body)
    assert status == 413, raw


def _bomb() -> bytes:
    """A gzip body of 1 GiB of spaces inside a readings document, about a MiB compressed."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = b" " * MIB
    parts = [compressor.compress(b'{"data":[')]
    parts += [compressor.compress(chunk) for _ in range(1024)]
    parts.append(compressor.compress(b"]}") + compressor.flush())
    return b"".join(parts)


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return _bomb()


async def test_a_gzip_bomb_is_a_413(db_settings, world, aiohttp_client, bomb):
    settings = ingest_config.IngestSettings(db=db_settings, rate_limits=UNLIMITED)
    client = await aiohttp_client(ingest_app.create_app(settings))
    assert len(bomb) < 2 * MIB
    response = await client.post(
        f"/v0/devices/{world.public}/readings",
        data=io.BytesIO(bomb),
        headers={
            "Authorization": f"Bearer {world.device_token}",
            "Content-Encoding": "gzip",
            "Content-Type": "application/json",
        },
    )
    status, raw = await answer(response)
    assert status == 413, raw
    check_error(status, response.headers["Content-Type"], raw, response.headers["X-Request-ID"])


@pytest.mark.parametrize(
    ("sensor", "echoed"),
    [
        ("1" + "0" * 30, "1" + "0" * 30),  # past 64 bits: read only by the standard library
        ('"' + "k" * 500 + '"', "k" * 64),
        ("[1, 2]", "a list"),
        ("true", "true"),
        ("55.5", "55.5"),
        ('{"a": 1}', "an object"),
    ],
)
async def test_a_rejected_sensor_is_echoed_in_a_form_json_can_hold(
    gateway_client, world, sensor, echoed
):
    # A NaN elsewhere in the body sends it to the standard library's parser.
    body = (
        '{"data":[{"recorded_at":"2024-05-01T10:00:00Z","sensors":['
        f'{{"id":{sensor},"value":1}},{{"id":55,"value":NaN}}]}}]}}'
    )
    response, status, raw = await post_readings(gateway_client, world, body)
    assert status == 422, raw
    rejected = (await response.json())["rejected"]
    assert rejected[0] == {"index": 0, "sensor": echoed, "reason": "unknown sensor"}


async def test_a_reading_without_a_value_at_a_bad_time_is_rejected(gateway_client, world):
    body = '{"data":[{"recorded_at":"","sensors":[{"id":55},{"id":56,"value":null}]}]}'
    response, status, raw = await post_readings(gateway_client, world, body)
    assert status == 422, raw
    rejected = (await response.json())["rejected"]
    assert [(r["index"], r["sensor"]) for r in rejected] == [(0, 55)]
    assert rejected[0]["reason"].startswith("recorded_at"), rejected


def _huge(what: str) -> bytes:
    if what == "numbers":
        return b'{"data":[' + b"0," * 2_000_000 + b"0]}"
    if what == "entries":  # one reading each, a minute apart: all good, ~5 MiB
        return strategies.encode(
            {
                "data": [
                    {
                        "recorded_at": f"2024-05-{1 + i // 1440:02d}T{i // 60 % 24:02d}:"
                        f"{i % 60:02d}:00Z",
                        "sensors": [{"id": 55, "value": i}],
                    }
                    for i in range(40_000)
                ]
            }
        ).encode()
    item = b'{"id":55,"value":1},'  # the same sensor again and again: repeats are rejected
    return (
        b'{"data":[{"recorded_at":"2024-05-01T10:00:00Z","sensors":['
        + item * 300_000
        + b'{"id":56,"value":2}]}]}'
    )


@pytest.mark.parametrize(
    ("what", "expected"), [("numbers", 400), ("entries", 200), ("sensors", 200)]
)
async def test_huge_arrays(gateway_client, world, process, what, expected):
    body = _huge(what)
    assert len(body) < 10 * MIB
    response, status, raw = await post_readings(gateway_client, world, body)
    assert status == expected, raw[:300]
    if status == 200:
        accepted = (await response.json())["accepted"]
        assert accepted == {"entries": 40_000, "sensors": 2}[what]
        await process()


async def test_a_time_past_any_float_is_rejected(gateway_client, world):
    # The NaN sends the body to the standard library's parser, which reads any integer.
    body = (
        '{"data":[{"recorded_at":1' + "0" * 400 + ',"sensors":[{"id":55,"value":1}]},'
        '{"recorded_at":"2024-05-01T10:00:00Z","sensors":[{"id":55,"value":NaN}]}]}'
    )
    response, status, raw = await post_readings(gateway_client, world, body)
    assert status == 422, raw
    reasons = [r["reason"] for r in (await response.json())["rejected"]]
    assert reasons == ["recorded_at: epoch seconds out of range", "value is not finite"]
