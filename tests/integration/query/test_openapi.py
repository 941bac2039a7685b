"""The OpenAPI document is true: every operation, called for real on a seeded database, answers
with a documented status, documented headers and a body its schema accepts.

Each case is one request; together they exercise every operation of the document and every
status it documents, except those listed in NOT_EXERCISED with the reason.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from core import passwords, tokens
from ingest import app as ingest_app
from ingest import config as ingest_config
from query import openapi
from storage import demo
from tests.integration.query import openapi_accounts_cases as accounts_cases

DOCUMENT = orjson.loads(openapi.DOCUMENT_BYTES)
BASE = "urn:sensorium:openapi"
REGISTRY = Registry().with_resource(BASE, Resource(DOCUMENT, DRAFT202012))
V1 = {"Accept": "application/vnd.smartcitizen; version=1"}
OWNER = {"Authorization": "Bearer {token}"}
T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
RANGE = {"from": "2024-05-01T10:00:00Z", "to": "2024-05-01T11:00:00Z"}
SCK_DATA = '[{"temp":"29090.6","hum":"6815.74","timestamp":"2024-05-01 10:00:00"}]'
LEGACY = {"X-SmartCitizenMacADDR": "{mac}", "X-SmartCitizenData": SCK_DATA}
READINGS = {"data": [{"recorded_at": "2024-05-01T10:30:00Z", "sensors": [{"id": 55, "value": 21}]}]}
MAX_BODY_BYTES = 4096
OTHER = {"Authorization": "Bearer {other_token}"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
TEXT = {"Content-Type": "text/plain"}
NEW_DEVICE = {"name": "New", "mac_address": "02:00:00:00:99:01", "latitude": 41.4, "longitude": 2.2}


@dataclass(frozen=True)
class Case:
    """One request, and the status it must get."""

    operation: str
    status: int
    path: str
    method: str = "GET"
    service: str = "query"
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    revalidate: bool = False  # send If-None-Match with the ETag of a first answer
    note: str = ""

    def __str__(self) -> str:
        return f"{self.operation}-{self.status}{'-' + self.note if self.note else ''}"


def _reads(operation, path, *, not_found=None, unauthorized=False, listing=False):
    """The usual cases of a query-service GET: OK, JSON-P, bad parameter, 406 and the rest."""
    cases = [
        Case(operation, 200, path),
        Case(operation, 200, path, params={"callback": "cb"}, note="jsonp"),
        Case(operation, 200, path, params={"pretty": "true"}, note="pretty"),
        Case(operation, 400, path, params={"pretty": "maybe"}),
        Case(operation, 406, path, headers=V1),
    ]
    if listing:
        cases += [
            Case(operation, 200, path, params={"per_page": "1", "page": "2"}, note="page"),
            Case(operation, 400, path, params={"q[password_hash_eq]": "x"}, note="filter"),
        ]
    if not_found:
        cases.append(Case(operation, 404, not_found))
    if unauthorized:
        cases.append(Case(operation, 401, path, headers={"Authorization": "Bearer nope"}))
    return cases


CASES = [
    *_reads("getIndex", "/"),
    *_reads("getOpenApi", "/openapi.json"),
    *_reads("listDevices", "/v0/devices", unauthorized=True, listing=True),
    Case("listDevices", 200, "/v0/devices", headers=OWNER, note="owner"),
    Case(
        "listDevices",
        200,
        "/v0/devices",
        params={"near": "41.39,2.17", "within": "50", "with_tags": "outdoor|online"},
        note="near",
    ),
    *_reads(
        "getDevice", "/v0/devices/{device}", not_found="/v0/devices/999999", unauthorized=True
    ),
    Case("getDevice", 200, "/v0/devices/{device}", headers=OWNER, note="owner"),
    Case("getDeviceReadings", 200, "/v0/devices/{device}/readings",
         params={"sensor_id": "55", "rollup": "1m", **RANGE}),
    Case("getDeviceReadings", 200, "/v0/devices/{device}/readings",
         params={"sensor_id": "55,56", "rollup": "1h", "function": "max", **RANGE}, note="multi"),
    Case("getDeviceReadings", 200, "/v0/devices/{device}/readings",
         params={"sensor_key": "temp", "rollup": "1d", "all_intervals": "true",
                 "tz": "Europe/Madrid", **RANGE}, note="tz"),
    Case("getDeviceReadings", 200, "/v0/devices/{device}/readings",
         params={"sensor_id": "55", "rollup": "1m", "callback": "cb", **RANGE}, note="jsonp"),
    Case("getDeviceReadings", 200, "/v0/devices/{device}/readings",
         params={"sensor_id": "55", "format": "csv", **RANGE}, note="csv"),
    Case("getDeviceReadings", 200, "/v0/devices/{device}/readings",
         params={"sensor_id": "55", "format": "ndjson", **RANGE}, note="ndjson"),
    Case("getDeviceReadings", 400, "/v0/devices/{device}/readings", params={"sensor_id": "55"}),
    Case("getDeviceReadings", 401, "/v0/devices/{device}/readings",
         params={"sensor_id": "55", "rollup": "1m"}, headers={"Authorization": "Bearer nope"}),
    Case("getDeviceReadings", 404, "/v0/devices/999999/readings",
         params={"sensor_id": "55", "rollup": "1m"}),
    Case("getDeviceReadings", 406, "/v0/devices/{device}/readings",
         params={"sensor_id": "55", "rollup": "1m"}, headers=V1),
    *_reads("getWorldMap", "/v0/devices/world_map"),
    Case("getWorldMap", 304, "/v0/devices/world_map", revalidate=True),
    Case("getFreshWorldMap", 200, "/v0/devices/fresh_world_map", headers=OWNER),
    Case("getFreshWorldMap", 200, "/v0/devices/fresh_world_map", headers=OWNER,
         params={"pretty": "true"}, note="pretty"),
    Case("getFreshWorldMap", 400, "/v0/devices/fresh_world_map", headers=OWNER,
         params={"pretty": "x"}),
    Case("getFreshWorldMap", 401, "/v0/devices/fresh_world_map"),
    Case("getFreshWorldMap", 406, "/v0/devices/fresh_world_map", headers={**OWNER, **V1}),
    *_reads("listSensors", "/v0/sensors", listing=True, unauthorized=True),
    *_reads("getSensor", "/v0/sensors/55", not_found="/v0/sensors/999999", unauthorized=True),
    *_reads("listKits", "/v0/kits", listing=True, unauthorized=True),
    *_reads("getKit", "/v0/kits/26", not_found="/v0/kits/999999", unauthorized=True),
    *_reads("listMeasurements", "/v0/measurements", listing=True, unauthorized=True),
    *_reads(
        "getMeasurement",
        "/v0/measurements/1",
        not_found="/v0/measurements/999999",
        unauthorized=True,
    ),
    Case("search", 200, "/v0/search", params={"q": "demo"}),
    Case("search", 200, "/v0/search", params={"q": "barcelona", "per_page": "1"}, note="page"),
    Case("search", 200, "/v0/search", params={"q": "demo", "callback": "cb"}, note="jsonp"),
    Case("search", 400, "/v0/search"),
    Case("search", 406, "/v0/search", params={"q": "demo"}, headers=V1),
    Case("postDeviceReadings", 200, "/v0/devices/{device}/readings", "POST", "ingest",
         headers={"Authorization": "Bearer {device_token}"}, body=READINGS),
    Case("postDeviceReadings", 200, "/v0/devices/{device}/readings", "POST", "ingest",
         headers=OWNER, body={"data": [{"recorded_at": 1714557600, "sensors": [
             {"id": "temp", "value": "21.5"}, {"key": "nope", "value": 1}]}]}, note="rejects"),
    Case("postDeviceReadings", 400, "/v0/devices/{device}/readings", "POST", "ingest",
         headers=OWNER, body=b"{"),
    Case("postDeviceReadings", 401, "/v0/devices/{device}/readings", "POST", "ingest",
         body=READINGS),
    Case("postDeviceReadings", 403, "/v0/devices/{device}/readings", "POST", "ingest",
         headers={"Authorization": "Bearer {other_token}"}, body=READINGS),
    Case("postDeviceReadings", 404, "/v0/devices/999999/readings", "POST", "ingest",
         headers=OWNER, body=READINGS),
    Case("postDeviceReadings", 413, "/v0/devices/{device}/readings", "POST", "ingest",
         headers=OWNER, body=b'{"data": [' + b" " * (2 * MAX_BODY_BYTES) + b"]}"),
    Case("postDeviceReadings", 415, "/v0/devices/{device}/readings", "POST", "ingest",
         headers={**OWNER, "Content-Encoding": "compress"}, body=READINGS),
    Case("postDeviceReadings", 422, "/v0/devices/{device}/readings", "POST", "ingest",
         headers=OWNER, body={"data": [{"recorded_at": "2024-05-01T10:00:00Z",
                                        "sensors": [{"id": "nope", "value": 1}]}]}),
    Case("legacyAddGet", 200, "/v0/add", service="ingest", headers=LEGACY),
    Case("legacyAddPost", 200, "/v0/add", "POST", "ingest", headers=LEGACY),
    Case("legacyAddPut", 200, "/v0/add", "PUT", "ingest", headers=LEGACY),
    Case("legacyAddPut", 200, "/v0/add", "PUT", "ingest", note="malformed"),
    Case("getClock", 200, "/v0/datetime", service="ingest"),
    Case("getHealth", 200, "/health"),
    Case("getHealth", 200, "/health", service="ingest", note="ingest"),
    Case("getReady", 200, "/ready"),
    Case("getReady", 200, "/ready", service="ingest", note="ingest"),
    *(Case(**case) for case in accounts_cases.CASES),
    # The device registry.
    Case("getWorldMap", 401, "/v0/devices/world_map", headers={"Authorization": "Bearer nope"}),
    Case("createDevice", 201, "/v0/devices", "POST", headers=OWNER, body=NEW_DEVICE),
    Case("createDevice", 201, "/v0/devices", "POST", headers={**OWNER, **FORM},
         body=b"name=Form&mac_address=02-00-00-00-99-02&user_tags=a,b&is_private=1", note="form"),
    Case("createDevice", 400, "/v0/devices", "POST", headers=OWNER,
         body={**NEW_DEVICE, "owner_id": 1}),
    Case("createDevice", 401, "/v0/devices", "POST", body=NEW_DEVICE),
    Case("createDevice", 406, "/v0/devices", "POST", headers={**OWNER, **V1}, body=NEW_DEVICE),
    Case("createDevice", 415, "/v0/devices", "POST", headers={**OWNER, **TEXT}, body=b"name=x"),
    Case("createDevice", 422, "/v0/devices", "POST", headers=OWNER,
         body={**NEW_DEVICE, "mac_address": "nope"}),
    Case("updateDevice", 200, "/v0/devices/{device}", "PATCH", headers=OWNER,
         body={"name": "Renamed", "user_tags": ["a"]}),
    Case("updateDevice", 400, "/v0/devices/{device}", "PATCH", headers=OWNER,
         body={"owner_id": 5}),
    Case("updateDevice", 401, "/v0/devices/{device}", "PATCH", body={"name": "x"}),
    Case("updateDevice", 403, "/v0/devices/{device}", "PATCH", headers=OTHER, body={"name": "x"}),
    Case("updateDevice", 404, "/v0/devices/999999", "PATCH", headers=OWNER, body={"name": "x"}),
    Case("updateDevice", 406, "/v0/devices/{device}", "PATCH", headers={**OWNER, **V1},
         body={"name": "x"}),
    Case("updateDevice", 415, "/v0/devices/{device}", "PATCH", headers={**OWNER, **TEXT},
         body=b"name=x"),
    Case("updateDevice", 422, "/v0/devices/{device}", "PATCH", headers=OWNER,
         body={"latitude": 100, "longitude": 2}),
    Case("deleteDevice", 200, "/v0/devices/{device}", "DELETE", headers=OWNER),
    Case("deleteDevice", 401, "/v0/devices/{device}", "DELETE"),
    Case("deleteDevice", 403, "/v0/devices/{device}", "DELETE", headers=OTHER),
    Case("deleteDevice", 404, "/v0/devices/999999", "DELETE", headers=OWNER),
    Case("deleteDevice", 406, "/v0/devices/{device}", "DELETE", headers={**OWNER, **V1}),
    Case("rotateDeviceToken", 200, "/v0/devices/{device}/token", "POST", headers=OWNER),
    Case("rotateDeviceToken", 401, "/v0/devices/{device}/token", "POST"),
    Case("rotateDeviceToken", 403, "/v0/devices/{device}/token", "POST", headers=OTHER),
    Case("rotateDeviceToken", 404, "/v0/devices/999999/token", "POST", headers=OWNER),
    Case("rotateDeviceToken", 406, "/v0/devices/{device}/token", "POST",
         headers={**OWNER, **V1}),
]  # fmt: skip


def _body_cases(cases):
    """Every operation that reads a body refuses one too large (413) or in an encoding not
    served (415) before it does anything: its first successful case, so altered."""
    covered = {(case.operation, case.status) for case in cases}
    with_body = {
        operation["operationId"]
        for item in DOCUMENT["paths"].values()
        for operation in item.values()
        if "requestBody" in operation
    }
    firsts = {}
    for case in cases:
        if case.operation in with_body and case.status < 300 and case.body is not None:
            firsts.setdefault(case.operation, case)
    made = []
    for operation, case in firsts.items():
        brotli = {**case.headers, "Content-Encoding": "br"}
        made.append(replace(case, status=415, headers=brotli, note="encoding"))
        if (operation, 413) not in covered:
            big = b'{"padding": "' + b"x" * (2 * 1024 * 1024) + b'"}'
            made.append(replace(case, status=413, body=big, note="large"))
    return made


CASES += _body_cases(CASES)


# Statuses the document promises that these cases do not provoke, and why.
NOT_EXERCISED = {
    (operation["operationId"], "503"): "needs the database down or staging full: "
    "tests/integration/ingest/test_availability.py covers the gateway's"
    for item in DOCUMENT["paths"].values()
    for operation in item.values()
} | {
    (operation["operationId"], "429"): "needs a client over its quota: "
    "tests/integration/test_rate_limits.py checks those answers against this document"
    for item in DOCUMENT["paths"].values()
    for operation in item.values()
}


@pytest.fixture
async def world(db_pool, monkeypatch):
    """The demo fleet, with readings on its first device, and a user who owns nothing."""
    # The demo user's password is hashed with argon2 (a third of a second): not under test here.
    monkeypatch.setattr(passwords, "hash_password", lambda password: "not-a-hash")
    async with db_pool.acquire() as conn:
        fleet = await demo.seed(conn)
        device = fleet.devices[0]
        for minute in range(5):
            for sensor_id, value in ((55, 20.0 + minute), (56, 50.0 - minute)):
                await conn.execute(
                    "INSERT INTO readings VALUES ($1, $2, $3, $4, $4)",
                    T0 + timedelta(minutes=minute),
                    device.id,
                    sensor_id,
                    value,
                )
        await conn.execute(
            "INSERT INTO latest_readings (device_id, sensor_id, time, raw_value, value)"
            " SELECT DISTINCT ON (sensor_id) device_id, sensor_id, time, raw_value, value"
            "   FROM readings WHERE device_id = $1 ORDER BY sensor_id, time DESC",
            device.id,
        )
        await conn.execute(
            "UPDATE devices SET last_reading_at = $2, last_posted_at = now() WHERE id = $1",
            device.id,
            T0 + timedelta(minutes=4),
        )
        other = await conn.fetchval("INSERT INTO users (username) VALUES ('other') RETURNING id")
        other_token = tokens.new_token()
        await conn.execute(
            "INSERT INTO api_tokens (user_id, token_hash, kind) VALUES ($1, $2, 'access')",
            other,
            tokens.hash_token(other_token),
        )
        accounts = await accounts_cases.world(conn, fleet)
    return {
        **accounts,
        "device": str(device.id),
        "token": fleet.access_token,
        "device_token": device.token,
        "other_token": other_token,
        "mac": fleet.devices[3].mac_address,
    }


@pytest.fixture
def serve(world, query_app, db_settings, aiohttp_client):
    """A client of the query service or of the gateway, on the seeded database."""

    async def serve(service):
        if service == "query":
            return await aiohttp_client(query_app())
        gateway = ingest_config.IngestSettings(db=db_settings, max_body_bytes=MAX_BODY_BYTES)
        return await aiohttp_client(ingest_app.create_app(gateway, on_fatal=_fatal))

    return serve


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_the_answer_is_as_documented(serve, world, case):
    response = await _call(await serve(case.service), case, world)
    body = await response.read()
    assert response.status == case.status, body[:500]
    documented = _response(case.operation, response.status)
    assert response.headers["X-Request-ID"]
    for name, header in documented.get("headers", {}).items():
        if header.get("required"):
            assert name in response.headers, f"{name} is documented as always sent"
    if response.status == 304:
        assert "content" not in documented and body == b""
        return
    media_type = response.headers["Content-Type"].split(";")[0].strip()
    content = documented.get("content", {})
    assert media_type in content, f"{media_type} is not documented for {case}"
    if media_type == "application/javascript":
        assert body.startswith(b"/**/cb(") and body.endswith(b");")
        body, media_type = body[len(b"/**/cb(") : -2], "application/json"
    if media_type == "application/json":
        _validate(orjson.loads(body), _pointer(case.operation, response.status))
    else:
        assert body


def test_every_operation_and_status_is_exercised():
    exercised = {(case.operation, str(case.status)) for case in CASES}
    documented = {
        (operation["operationId"], status)
        for item in DOCUMENT["paths"].values()
        for operation in item.values()
        for status in operation["responses"]
    }
    assert exercised - documented == set(), "cases of undocumented operations or statuses"
    assert documented - exercised - NOT_EXERCISED.keys() == set()


async def _call(client, case, world):
    fill = {k: _fill(v, world) for k, v in case.headers.items()}
    path = _fill(case.path, world)
    params = {k: _fill(v, world) for k, v in case.params.items()}
    body = case.body
    if body is not None and not isinstance(body, bytes):
        body = _fill(orjson.dumps(body).decode(), world).encode()
    if case.revalidate:
        first = await client.request(case.method, path, params=params, headers=fill)
        fill["If-None-Match"] = first.headers["ETag"]
    if body is not None and len(body) > 65536:  # aiohttp wants a large body as a stream
        body = io.BytesIO(body)
    return await client.request(case.method, path, params=params, headers=fill, data=body)


def _fill(text, world):
    for name, value in world.items():
        text = text.replace(f"{{{name}}}", value)
    return text


def _operation(operation_id):
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            if operation["operationId"] == operation_id:
                return path, method
    raise AssertionError(f"{operation_id} is not in the document")


def _response(operation_id, status):
    path, method = _operation(operation_id)
    responses = DOCUMENT["paths"][path][method]["responses"]
    assert str(status) in responses, f"{status} is not documented for {operation_id}"
    response = responses[str(status)]
    if "$ref" in response:
        response = DOCUMENT["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return response


def _pointer(operation_id, status):
    path, method = _operation(operation_id)
    response = DOCUMENT["paths"][path][method]["responses"][str(status)]
    where = (
        response["$ref"][1:]
        if "$ref" in response
        else (f"/paths/{_escape(path)}/{method}/responses/{status}")
    )
    return f"{where}/content/application~1json/schema"


def _escape(token):
    return token.replace("~", "~0").replace("/", "~1")


def _validate(instance, pointer):
    schema = {"$ref": f"{BASE}#{pointer}"}
    validator = Draft202012Validator(
        schema, registry=REGISTRY, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in errors[:10]
    )


def _fatal():
    raise AssertionError("a gateway background task died")
