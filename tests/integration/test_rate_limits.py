"""Rate limits over real HTTP, with tiny quotas and the limiter's clock in the test's hands.

The query service limits each client (its credential, or its IP when anonymous); the gateway
limits readings posts per device; both cap every client IP. A client over its quota gets a 429
in the error model with Retry-After, and is served again once that time has passed.
"""

from __future__ import annotations

import dataclasses
import logging

import orjson
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from core import passwords, throttling
from core.ratelimit import Policy, RateLimitSettings
from ingest import app as ingest_app
from ingest import config as ingest_config
from query import app as query_app
from query import config as query_config
from query import openapi
from storage import demo, packing

DOCUMENT = orjson.loads(openapi.DOCUMENT_BYTES)
REGISTRY = Registry().with_resource("urn:doc", Resource(DOCUMENT, DRAFT202012))
# One request a second sustained, two at once; the IP ceiling out of the way unless a test sets it.
TINY = RateLimitSettings(quota=Policy(limit=60, burst=2), ip_ceiling=Policy(limit=6000, burst=100))
RATE_LIMIT_HEADERS = (
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "RateLimit-Policy",
)


class Clock:
    """The limiter's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def fleet(db_pool, monkeypatch):
    # The demo user's password is hashed with argon2 (a third of a second): not under test here.
    monkeypatch.setattr(passwords, "hash_password", lambda password: "not-a-hash")
    async with db_pool.acquire() as conn:
        return await demo.seed(conn)


@pytest.fixture
def serve(db_settings, db_pool, aiohttp_client):
    """A client of the query service (`"query"`) or the gateway, with these rate limits; the
    app's limiter runs on the returned Clock."""
    died = []

    async def serve(service, limits=TINY):
        if service == "query":
            settings = query_config.QuerySettings(db=db_settings, rate_limits=limits)
            app = query_app.create_app(settings, on_fatal=lambda: died.append(service))
        else:
            settings = ingest_config.IngestSettings(db=db_settings, rate_limits=limits)
            app = ingest_app.create_app(settings, on_fatal=lambda: died.append(service))
        clock = Clock()
        app[throttling.throttle_key].clock = clock
        return await aiohttp_client(app), clock

    yield serve
    assert not died, "a background task died"


def from_ip(address):
    """Headers nginx sets in front of the services (the test client's peer is loopback)."""
    return {"X-Real-IP": address, "X-Forwarded-For": address}


async def statuses(client, path, n, **kwargs):
    answers = []
    for _ in range(n):
        response = await client.get(path, **kwargs)
        await response.read()
        answers.append(response.status)
    return answers


def assert_documented_429(response, body, operation_path, method="get"):
    """The 429 is the one the OpenAPI document promises for this operation."""
    responses = DOCUMENT["paths"][operation_path][method]["responses"]
    assert responses["429"] == {"$ref": "#/components/responses/TooManyRequests"}
    documented = DOCUMENT["components"]["responses"]["TooManyRequests"]
    for name in documented["headers"]:
        assert name in response.headers, f"{name} is documented as always sent"
    validator = Draft202012Validator(
        {"$ref": "urn:doc#/components/schemas/Error"}, registry=REGISTRY
    )
    assert not list(validator.iter_errors(body))


async def test_a_query_client_over_its_quota_gets_429_in_the_error_model(serve):
    client, clock = await serve("query")
    first = await client.get("/v0/sensors")
    assert first.status == 200
    assert first.headers["RateLimit-Limit"] == "2"
    assert first.headers["RateLimit-Remaining"] == "1"
    assert first.headers["RateLimit-Policy"] == "60;w=60;burst=2, 6000;w=60;burst=100"
    second = await client.get("/v0/sensors")
    assert second.status == 200 and second.headers["RateLimit-Remaining"] == "0"

    refused = await client.get("/v0/sensors", headers={"X-Request-ID": "over-quota"})
    body = await refused.json()
    assert refused.status == 429
    assert refused.headers["Retry-After"] == "1"
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert refused.headers["RateLimit-Reset"] == "2"
    assert refused.headers["X-Request-ID"] == "over-quota"
    assert body["id"] == "too_many_requests" and body["object"] == "error"
    assert body["code"] == "rate_limited" and body["type"] == "rate_limit_error"
    assert body["request_id"] == "over-quota" and "retry after 1 s" in body["message"]
    assert_documented_429(refused, body, "/v0/sensors")

    clock.now += 0.5
    assert await statuses(client, "/v0/sensors", 1) == [429]
    clock.now += 0.5  # Retry-After has passed since the refusal
    assert await statuses(client, "/v0/sensors", 2) == [200, 429]


async def test_refusals_are_summed_up_in_the_log_at_most_once_a_minute(serve, caplog):
    caplog.set_level(logging.WARNING, logger="core.throttling")
    client, clock = await serve("query")
    assert await statuses(client, "/v0/kits", 5) == [200, 200, 429, 429, 429]
    clock.now += 1
    assert await statuses(client, "/v0/kits", 3) == [200, 429, 429]
    clock.now += 59
    assert await statuses(client, "/v0/kits", 3) == [200, 200, 429]
    summaries = [r for r in caplog.records if getattr(r, "action", "") == "rate_limited_summary"]
    # The first refusal at once; the next summary a minute later counts the 2 + 2 + 1 since.
    assert [r.refused for r in summaries] == [1, 5]
    assert all(r.client_ip == "127.0.0.1" for r in summaries)


async def test_one_noisy_client_is_limited_and_another_is_not(serve, fleet):
    client, _ = await serve("query")
    noisy, quiet = from_ip("203.0.113.5"), from_ip("203.0.113.6")
    assert await statuses(client, "/v0/devices", 4, headers=noisy) == [200, 200, 429, 429]
    assert await statuses(client, "/v0/devices", 2, headers=quiet) == [200, 200]
    # A signed-in client has a quota of its own, apart from its IP's anonymous one.
    signed_in = {**noisy, "Authorization": f"Bearer {fleet.access_token}"}
    assert await statuses(client, "/v0/devices", 3, headers=signed_in) == [200, 200, 429]
    other_token = {**noisy, "Authorization": "Bearer someone-else"}
    assert await statuses(client, "/v0/devices", 1, headers=other_token) == [401]


async def test_tokens_keys_and_access_tokens_are_clients_and_basic_is_not(serve):
    client, _ = await serve("query")
    address = from_ip("203.0.113.50")
    assert await statuses(client, "/v0/kits", 2, headers=address) == [200, 200]
    # A password guess is no credential: it counts under its address, which has no quota left.
    basic = {**address, "Authorization": "Basic dXNlcjpndWVzcw=="}
    assert await statuses(client, "/v0/kits", 1, headers=basic) == [429]
    for credential in (
        {"headers": {**address, "key": "sk_live_some-key"}},
        {"headers": address, "params": {"access_token": "some-token"}},
        {"headers": {**address, "Authorization": "Token token=some-token"}},
    ):
        response = await client.get("/v0/kits", **credential)
        assert response.status != 429 and response.headers["RateLimit-Remaining"] == "1", credential


async def test_made_up_tokens_do_not_dodge_the_ip_ceiling(serve):
    limits = dataclasses.replace(TINY, ip_ceiling=Policy(limit=60, burst=3))
    client, _ = await serve("query", limits)
    answers = []
    for n in range(5):
        response = await client.get("/v0/devices", headers={"Authorization": f"Bearer fake-{n}"})
        answers.append((response.status, response.headers["RateLimit-Policy"]))
    assert [status for status, _ in answers] == [401, 401, 401, 429, 429]
    assert answers[-1][1] == "60;w=60;burst=3", "the ceiling refused it"
    assert await statuses(client, "/v0/devices", 1, headers=from_ip("198.51.100.1")) == [200]


async def test_every_answer_of_a_limited_path_carries_the_headers(serve):
    client, _ = await serve("query")
    for path, status in (("/v0/sensors/999999", 404), ("/no/such/path", 404)):
        response = await client.get(path)
        assert response.status == status
        assert all(name in response.headers for name in RATE_LIMIT_HEADERS), path


async def test_health_readiness_and_the_document_are_never_limited(serve):
    client, _ = await serve("query")
    assert await statuses(client, "/v0/sensors", 3) == [200, 200, 429]
    for path in ("/health", "/ready", "/openapi.json"):
        response = await client.get(path)
        assert response.status == 200, path
        assert "RateLimit-Remaining" not in response.headers
    gateway, _ = await serve("ingest", dataclasses.replace(TINY, ip_ceiling=Policy(60, 1)))
    assert await statuses(gateway, "/v0/datetime", 2) == [200, 429]
    assert await statuses(gateway, "/health", 5) == [200] * 5


async def test_forwarded_addresses_are_believed_only_from_a_trusted_proxy(serve):
    trusting, _ = await serve("query")
    assert await statuses(trusting, "/v0/kits", 3, headers=from_ip("192.0.2.1")) == [200, 200, 429]
    assert await statuses(trusting, "/v0/kits", 1, headers=from_ip("192.0.2.2")) == [200]
    # Without X-Real-IP, the nearest untrusted hop of X-Forwarded-For; what the client wrote
    # further left is not believed.
    spoofed = {"X-Forwarded-For": "192.0.2.77, 192.0.2.1, 127.0.0.1"}
    assert await statuses(trusting, "/v0/kits", 1, headers=spoofed) == [429]

    distrusting, _ = await serve("query", dataclasses.replace(TINY, trusted_proxies=()))
    first = await statuses(distrusting, "/v0/kits", 2, headers=from_ip("192.0.2.1"))
    second = await statuses(distrusting, "/v0/kits", 1, headers=from_ip("192.0.2.2"))
    assert first + second == [200, 200, 429], "both came from the peer's address"


async def test_limits_can_be_switched_off(serve):
    client, _ = await serve("query", dataclasses.replace(TINY, enabled=False))
    response = None
    for _ in range(5):
        response = await client.get("/v0/sensors")
        assert response.status == 200
    assert response is not None and "RateLimit-Limit" not in response.headers


def readings(second):
    return orjson.dumps(
        {
            "data": [
                {
                    "recorded_at": f"2024-05-01T10:00:{second:02d}Z",
                    "sensors": [{"id": 55, "value": second}],
                }
            ]
        }
    )


async def staged_seconds(db_pool, device_id):
    rows = await db_pool.fetch(
        "SELECT payload FROM ingest_batches WHERE device_id = $1 ORDER BY id", device_id
    )
    return [int(packing.unpack_readings(row["payload"]).values[0]) for row in rows]


async def test_a_device_over_its_quota_is_slowed_and_its_retried_batch_stored_once(
    serve, fleet, db_pool
):
    client, clock = await serve("ingest")
    device, other = fleet.devices[0], fleet.devices[1]
    path = f"/v0/devices/{device.id}/readings"
    auth = {"Authorization": f"Bearer {device.token}", "Content-Type": "application/json"}

    async def post(second):
        return await client.post(path, data=readings(second), headers=auth)

    assert [(await post(s)).status for s in (1, 2)] == [200, 200]
    refused = await post(3)
    body = await refused.json()
    assert refused.status == 429 and body["code"] == "rate_limited"
    assert_documented_429(refused, body, "/v0/devices/{id}/readings", "post")
    assert await staged_seconds(db_pool, device.id) == [1, 2], "a refused batch is not staged"

    # Another device of the same owner, from the same address, is not slowed.
    other_post = await client.post(
        f"/v0/devices/{other.id}/readings",
        data=readings(9),
        headers={"Authorization": f"Bearer {other.token}"},
    )
    assert other_post.status == 200

    clock.now += int(refused.headers["Retry-After"])
    retried = await post(3)
    assert retried.status == 200, await retried.text()
    assert (await retried.json())["accepted"] == 1
    assert retried.headers["RateLimit-Remaining"] == "0"
    assert await staged_seconds(db_pool, device.id) == [1, 2, 3]


async def test_strangers_cannot_spend_a_devices_quota(serve, fleet):
    client, _ = await serve("ingest")
    device = fleet.devices[0]
    path = f"/v0/devices/{device.id}/readings"
    stranger = {"Authorization": "Bearer not-the-device-token"}
    answers = [
        (await client.post(path, data=readings(1), headers=stranger)).status for _ in range(3)
    ]
    assert answers == [401, 401, 429]
    own = {"Authorization": f"Bearer {device.token}"}
    assert (await client.post(path, data=readings(1), headers=own)).status == 200


async def test_legacy_posts_count_per_mac_address(serve, fleet):
    client, clock = await serve("ingest")
    sck1 = next(d for d in fleet.devices if d.kit_id == demo.SCK_1_1)
    data = '[{"temp":"29090.6","timestamp":"2024-05-01 10:00:00"}]'
    legacy = {"X-SmartCitizenMacADDR": sck1.mac_address, "X-SmartCitizenData": data}
    answers = [(await client.put("/v0/add", headers=legacy)).status for _ in range(3)]
    assert answers == [200, 200, 429]
    other = {**legacy, "X-SmartCitizenMacADDR": "00:11:22:33:44:55"}
    assert (await client.put("/v0/add", headers=other)).status == 200
    clock.now += 1
    assert (await client.put("/add", headers=legacy)).status == 200
