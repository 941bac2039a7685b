"""Conventions on every query endpoint: pretty, JSON-P, the Accept version, the index at `/`."""

from __future__ import annotations

import dataclasses

import orjson
import pytest

from core import passwords, ratelimit
from storage import demo

VENDOR = "application/vnd.smartcitizen"


@pytest.fixture
async def fleet(db_pool, monkeypatch):
    # The demo user's password is hashed with argon2 (a third of a second): not under test here.
    monkeypatch.setattr(passwords, "hash_password", lambda password: "not-a-hash")
    async with db_pool.acquire() as conn:
        return await demo.seed(conn)


@pytest.fixture
async def client(query_app, aiohttp_client):
    return await aiohttp_client(query_app())


@pytest.mark.parametrize("path", ["/v0/devices", "/v0/kits/26", "/v0/search?q=demo", "/v0/sensors"])
async def test_pretty_indents_the_same_document(client, fleet, path):
    separator = "&" if "?" in path else "?"
    plain = await client.get(path)
    pretty = await client.get(f"{path}{separator}pretty=true")
    assert pretty.status == plain.status == 200
    text = await pretty.text()
    assert text.startswith(("[\n  ", "{\n  "))
    assert "\n" not in await plain.text()
    assert orjson.loads(text) == await plain.json()
    assert pretty.headers["Content-Type"].startswith("application/json")
    assert pretty.headers.get("Total") == plain.headers.get("Total")
    not_pretty = await client.get(f"{path}{separator}pretty=false")
    assert await not_pretty.text() == await plain.text()


async def test_pretty_errors_too(client, fleet):
    response = await client.get("/v0/devices/999999?pretty=true")
    assert response.status == 404
    text = await response.text()
    assert text.startswith("{\n  ")
    body = orjson.loads(text)
    assert body["object"] == "error"
    assert body["request_id"] == response.headers["X-Request-ID"]


async def test_a_bad_pretty_is_400(client, fleet):
    response = await client.get("/v0/devices?pretty=very")
    assert response.status == 400
    assert (await response.json())["fields"][0]["name"] == "pretty"


@pytest.mark.parametrize("callback", ["cb", "jQuery123_456", "$", "_x", "angular.callbacks._0"])
async def test_json_p_wraps_an_anonymous_get(client, fleet, callback):
    plain = await (await client.get("/v0/devices")).read()
    response = await client.get("/v0/devices", params={"callback": callback})
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/javascript")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Total"] == "4"
    body = await response.read()
    assert body == b"/**/" + callback.encode() + b"(" + plain + b");"


async def test_json_p_and_pretty_together(client, fleet):
    response = await client.get("/v0/kits/26?callback=show&pretty=true")
    body = (await response.read()).decode()
    assert body.startswith("/**/show({\n  ") and body.endswith("});")
    inner = orjson.loads(body[len("/**/show(") : -2])
    assert inner["slug"] == "sck-2-1"


async def test_json_p_escapes_javascript_line_terminators(client, fleet, db_pool):
    device = fleet.devices[0]
    async with db_pool.acquire() as conn:
        await conn.execute("UPDATE devices SET name = 'a\u2028b\u2029c' WHERE id = $1", device.id)
    response = await client.get(f"/v0/devices/{device.id}?callback=cb")
    body = await response.read()
    assert "\u2028".encode() not in body and "\u2029".encode() not in body
    assert b"a\\u2028b\\u2029c" in body
    plain = await (await client.get(f"/v0/devices/{device.id}")).json()
    assert plain["name"] == "a\u2028b\u2029c"


@pytest.mark.parametrize(
    "callback",
    ["", "alert(1)", "a b", "1abc", "a" * 65, "<script>", "cb;evil()", "a-b", "cb\n", "é"],
)
async def test_json_p_needs_a_plain_identifier(client, fleet, callback):
    response = await client.get("/v0/devices", params={"callback": callback})
    assert response.status == 400
    assert response.headers["Content-Type"].startswith("application/json")
    body = await response.json()
    assert body["fields"][0]["name"] == "callback"


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        ({"Authorization": "Bearer {token}"}, ""),
        ({"Authorization": "Token token={token}"}, ""),
        ({}, "&access_token={token}"),
        ({"Authorization": "Bearer not-even-valid"}, ""),
    ],
)
async def test_json_p_is_refused_with_credentials(client, fleet, headers, query):
    headers = {k: v.format(token=fleet.access_token) for k, v in headers.items()}
    response = await client.get(
        f"/v0/devices?callback=cb{query.format(token=fleet.access_token)}", headers=headers
    )
    assert response.status == 400
    body = await response.json()
    assert "anonymous" in body["message"]
    assert fleet.access_token not in await response.text()


async def test_json_p_of_an_error_is_plain_json_with_its_status(client, fleet):
    response = await client.get("/v0/devices/999999?callback=cb")
    assert response.status == 404
    assert response.headers["Content-Type"].startswith("application/json")
    assert (await response.json())["object"] == "error"


async def test_json_p_is_only_for_gets(client, fleet):
    response = await client.post("/v0/devices?callback=cb")
    assert response.status == 400


@pytest.mark.parametrize(
    "accept",
    [
        f"{VENDOR}; version=0",
        f'{VENDOR};version="0"',
        VENDOR,
        "application/json",
        "*/*",
        f"text/html, {VENDOR}; version=0; q=0.9",
    ],
)
async def test_accept_version_0_or_none_serves_v0(client, fleet, accept):
    for path in ("/v0/devices", "/devices"):
        response = await client.get(path, headers={"Accept": accept})
        assert response.status == 200
        assert len(await response.json()) == 4


@pytest.mark.parametrize("version", ["1", "2", "0.1", "v0", ""])
async def test_another_version_is_406_in_the_error_model(client, fleet, version):
    for path in ("/v0/devices", "/devices", "/v0/sensors/12", "/"):
        response = await client.get(path, headers={"Accept": f"{VENDOR}; version={version}"})
        assert response.status == 406
        body = await response.json()
        assert body["object"] == "error"
        assert body["id"] == "not_acceptable"
        assert body["code"] == "unsupported_version"
        assert body["type"] == "invalid_request_error"
        assert body["request_id"] == response.headers["X-Request-ID"]


@pytest.mark.parametrize("path", ["/", "/v0", "/v0/"])
async def test_the_index_lists_the_endpoint_categories(client, path):
    response = await client.get(path)
    assert response.status == 200
    text = await response.text()
    assert text.startswith("{\n  ")  # pretty, as SmartCitizen's root is
    body = orjson.loads(text)
    base = str(client.make_url("")).rstrip("/")
    assert body["devices_url"] == f"{base}/v0/devices"
    assert body["sensors_url"] == f"{base}/v0/sensors"
    assert body["kits_url"] == f"{base}/v0/kits"
    assert body["measurements_url"] == f"{base}/v0/measurements"
    assert body["world_map_url"] == f"{base}/v0/devices/world_map"
    assert body["openapi_url"] == f"{base}/openapi.json"
    assert body["users_url"] == f"{base}/v0/users"
    assert body["me_url"] == f"{base}/v0/me"
    assert (await client.get("/v0/users")).status == 200
    assert (await client.get("/v0/me")).status == 401  # signed-in users only


async def test_links_follow_the_forwarded_scheme(client, fleet, db_pool):
    headers = {"X-Forwarded-Proto": "https"}
    index = await (await client.get("/", headers=headers)).json()
    assert index["devices_url"].startswith("https://")
    page = await client.get("/v0/devices?per_page=1", headers=headers)
    assert page.headers["Link"].startswith("<https://")
    odd = await (await client.get("/", headers={"X-Forwarded-Proto": "javascript"})).json()
    assert odd["devices_url"].startswith("http://")


async def test_links_ignore_the_forwarded_scheme_of_an_untrusted_peer(
    query_app, aiohttp_client, fleet
):
    # Trusting only a proxy elsewhere, the test client (127.0.0.1) is an ordinary client.
    limits = dataclasses.replace(ratelimit.QUERY_LIMITS, trusted_proxies=("10.9.8.7/32",))
    client = await aiohttp_client(query_app(rate_limits=limits))
    index = await (await client.get("/", headers={"X-Forwarded-Proto": "https"})).json()
    assert index["devices_url"].startswith("http://")


async def test_every_answer_has_a_request_id_and_nosniff(client, fleet):
    for path in ("/", "/v0/devices?callback=cb", "/v0/nope", "/v0/devices?page=0"):
        response = await client.get(path)
        assert response.headers["X-Request-ID"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
