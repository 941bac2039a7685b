"""Headers on every answer of both services, errors and 404s included: X-Request-ID, nosniff,
CORS for any origin but never with credentials, preflights, and HSTS only over TLS."""

from __future__ import annotations

import dataclasses
import ssl
import subprocess

import pytest
from aiohttp import test_utils

from core import web as core_web
from tests.integration.fuzz.conftest import UNLIMITED
from tests.integration.fuzz.support import answer

EVIL = "https://evil.example"


def _query_requests(world):
    auth = {"Authorization": f"Bearer {world.owner_token}"}
    return [
        ("GET", "/v0/devices", {}, 200),
        ("GET", f"/v0/devices/{world.public}", {}, 200),
        ("GET", f"/v0/devices/{world.private}", {}, 404),
        ("GET", "/v0/devices/world_map", {}, 200),
        ("GET", "/openapi.json", {}, 200),
        ("GET", "/v0/me", auth, 200),
        ("GET", "/v0/me", {}, 401),
        ("GET", "/v0/me", {"Authorization": "Bearer nope"}, 401),
        ("GET", "/no/such/path", {}, 404),
        ("DELETE", "/v0/sensors", {}, 405),
        ("GET", "/v0/devices?per_page=zero", {}, 400),
        ("POST", "/v0/sessions", {"Content-Type": "application/json"}, 400),
        # A streamed export: its headers go before the error middleware sees it.
        (
            "GET",
            f"/v0/devices/{world.public}/readings?sensor_id=55&format=csv"
            "&from=2024-05-01T09:00:00Z&to=2024-05-01T11:00:00Z",
            {},
            200,
        ),
    ]


def _gateway_requests(world):
    return [
        ("GET", "/v0/datetime", {}, 200),
        ("GET", "/health", {}, 200),
        ("GET", "/no/such/path", {}, 404),
        ("POST", f"/v0/devices/{world.public}/readings", {}, 401),
        (
            "POST",
            f"/v0/devices/{world.public}/readings",
            {"Authorization": f"Bearer {world.device_token}"},
            400,
        ),
        ("GET", f"/v0/devices/{world.public}/readings", {}, 405),
    ]


@pytest.fixture(params=["query_client", "gateway_client"])
def either(request):
    """A client of the query service, then of the gateway."""
    return request.getfixturevalue(request.param)


@pytest.fixture(params=["query", "gateway"])
def service(request, world):
    """One service's client and the requests to make of it."""
    if request.param == "query":
        return request.getfixturevalue("query_client"), _query_requests(world)
    return request.getfixturevalue("gateway_client"), _gateway_requests(world)


async def test_every_answer_carries_the_headers(service):
    client, requests = service
    for method, path, headers, expected in requests:
        for origin in ({}, {"Origin": EVIL}):
            response = await client.request(
                method, path, headers={**headers, **origin, "X-Request-ID": "trace-7"}
            )
            status, _ = await answer(response)
            assert status == expected, (method, path, status)
            seen = response.headers
            assert seen["X-Request-ID"] == "trace-7", (method, path)
            assert seen["X-Content-Type-Options"] == "nosniff", (method, path)
            assert seen["Access-Control-Allow-Origin"] == "*", (method, path)
            assert "X-Request-ID" in seen["Access-Control-Expose-Headers"]
            assert "Access-Control-Allow-Credentials" not in seen, (method, path)
            assert "Strict-Transport-Security" not in seen, (method, path)


@pytest.mark.parametrize(
    ("path", "methods"),
    [("/v0/devices", {"GET", "HEAD", "POST"}), ("/v0/me", {"GET", "HEAD", "PATCH", "DELETE"})],
)
async def test_a_preflight_is_a_204_allowing_authorization(query_client, path, methods):
    response = await query_client.options(
        path,
        headers={
            "Origin": EVIL,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status == 204
    seen = response.headers
    assert seen["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in seen
    assert set(seen["Access-Control-Allow-Methods"].split(", ")) == methods | {"OPTIONS"}
    allowed = {h.strip().lower() for h in seen["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "key", "x-request-id"} <= allowed
    assert int(seen["Access-Control-Max-Age"]) > 0
    assert seen["X-Request-ID"]
    assert seen["X-Content-Type-Options"] == "nosniff"


async def test_a_preflight_is_answered_by_the_gateway(gateway_client, world):
    response = await gateway_client.options(
        f"/v0/devices/{world.public}/readings",
        headers={
            "Origin": EVIL,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type, Content-Encoding",
        },
    )
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Methods"] == "OPTIONS, POST"
    assert "Access-Control-Allow-Credentials" not in response.headers


async def test_a_preflight_for_a_path_not_served_is_a_404(either):
    response = await either.options(
        "/no/such/path", headers={"Origin": EVIL, "Access-Control-Request-Method": "GET"}
    )
    status, _ = await answer(response)
    assert status == 404
    assert response.headers["Access-Control-Allow-Origin"] == "*"


async def test_an_options_request_that_is_no_preflight_is_a_405(query_client):
    response = await query_client.options("/v0/devices")
    status, _ = await answer(response)
    assert status == 405


@pytest.mark.parametrize(
    ("forwarded", "hsts"),
    [("https", True), ("HTTPS", True), ("https, http", True), ("http", False), ("", False)],
)
async def test_hsts_when_the_trusted_proxy_says_tls(either, forwarded, hsts):
    # The test client connects from 127.0.0.1, a trusted proxy by default.
    for path in ("/health", "/no/such/path"):
        response = await either.get(path, headers={"X-Forwarded-Proto": forwarded})
        await answer(response)
        assert response.headers.get("Strict-Transport-Security") == (
            core_web.HSTS if hsts else None
        ), path


async def test_no_hsts_when_an_untrusted_peer_says_tls(
    query_app, account_settings, world, aiohttp_client
):
    # Trusting only a proxy elsewhere, the test client (127.0.0.1) is an ordinary client.
    limits = dataclasses.replace(UNLIMITED, trusted_proxies=("10.9.8.7/32",))
    client = await aiohttp_client(query_app(rate_limits=limits, accounts=account_settings))
    response = await client.get("/health", headers={"X-Forwarded-Proto": "https"})
    await answer(response)
    assert "Strict-Transport-Security" not in response.headers


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1: (certificate file, key file)."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_hsts_over_tls_to_the_service_itself(
    certificate, query_app, account_settings, world, aiohttp_client
):
    cert, key = certificate
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)
    app = query_app(rate_limits=UNLIMITED, accounts=account_settings)
    server = test_utils.TestServer(app)
    await server.start_server(ssl=server_side)  # TestServer takes server options only here
    client = await aiohttp_client(server)
    client_side = ssl.create_default_context(cafile=str(cert))
    for path in ("/health", "/no/such/path"):
        response = await client.get(path, ssl=client_side)
        await answer(response)
        assert response.url.scheme == "https"
        assert response.headers["Strict-Transport-Security"] == core_web.HSTS
