"""The OpenAPI 3.1 document of Sensorium's one base URL: the query service and the ingest gateway.

Built here as data and encoded once; query/openapi_schemas.py holds the bodies.
tests/integration/query/test_openapi.py calls every operation on a seeded database and validates
each real status, header and body against it, so a change to an endpoint that is not made here
too fails the suite.
"""

from __future__ import annotations

from typing import Any

import orjson

from core import throttling
from query import filters, openapi_accounts, pagination
from query.openapi_schemas import SCHEMAS, STR, Schema, ref


def _json(schema: Schema) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _error(description: str) -> Schema:
    return {"description": description, "content": _json(ref("Error"))}


_SECONDS = {"type": "string", "pattern": "^[0-9]+$"}
# IETF httpapi draft headers, on every answer of a rate-limited operation.
RATE_LIMIT_HEADERS: dict[str, Schema] = {
    "RateLimit-Limit": {
        "description": "Requests a rested client may make at once (the burst).",
        "schema": _SECONDS,
    },
    "RateLimit-Remaining": {"description": "Requests that may follow at once.", "schema": _SECONDS},
    "RateLimit-Reset": {"description": "Seconds until fully rested.", "schema": _SECONDS},
    "RateLimit-Policy": {
        "description": "`<limit>;w=<seconds>[;burst=<n>]` for the quota and the per-IP ceiling.",
        "schema": STR,
    },
}

RESPONSES: dict[str, Schema] = {
    "BadRequest": _error("A parameter or the body is malformed; `fields` names it."),
    "Unauthorized": _error("The token presented is not live (or one is required)."),
    "Forbidden": _error("The token is live but may not do this."),
    "NotFound": _error("No such record, or one the caller may not see."),
    "NotAcceptable": _error("Accept asks for an API version other than 0."),
    "PayloadTooLarge": _error("The body, or the body once decompressed, is too large."),
    "UnsupportedMediaType": _error(
        "The body's Content-Encoding is not one served (the gateway: identity or gzip; the "
        "query service: identity, gzip or deflate, and a multipart form only plain), or its "
        "Content-Type is not one the operation reads."
    ),
    "Unprocessable": _error("A field of the body has a bad value; `fields` names each."),
    "Unavailable": {
        "description": "The database or staging is unavailable or full; retry after Retry-After.",
        "headers": {"Retry-After": {"schema": {"type": "string"}, "required": True}},
        "content": _json(ref("Error")),
    },
    "TooManyRequests": {
        "description": "The client is over its quota (`code: rate_limited`); retry after "
        "Retry-After seconds.",
        "headers": {
            "Retry-After": {
                "schema": {"type": "string", "pattern": "^[1-9][0-9]*$"},
                "required": True,
            },
            **{name: {**header, "required": True} for name, header in RATE_LIMIT_HEADERS.items()},
        },
        "content": _json(ref("Error")),
    },
}

PARAMETERS: dict[str, Schema] = {
    "pretty": {
        "name": "pretty",
        "in": "query",
        "description": "`true` indents the JSON answer (empty: false).",
        "schema": {"enum": ["true", "false", "1", "0", ""]},
    },
    "callback": {
        "name": "callback",
        "in": "query",
        "description": "JSON-P: wraps the answer in `/**/callback(...);`. Anonymous GETs only.",
        "schema": {"type": "string", "pattern": r"^[A-Za-z_$][A-Za-z0-9_$.]{0,63}$"},
    },
    "page": {
        "name": "page",
        "in": "query",
        "description": "The page, from 1 (empty: the first).",
        "schema": {
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": pagination.MAX_PAGE},
                {"const": ""},
            ],
            "default": 1,
        },
    },
    "per_page": {
        "name": "per_page",
        "in": "query",
        "description": "Items per page (empty: the default).",
        "schema": {
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": pagination.MAX_PER_PAGE},
                {"const": ""},
            ],
            "default": pagination.DEFAULT_PER_PAGE,
        },
    },
    "q": {
        "name": "q",
        "in": "query",
        "style": "deepObject",
        "explode": True,
        "description": (
            "Ransack-style filters `q[<field>_<predicate>]=value`, predicates `eq not_eq lt "
            "lteq gt gteq cont start end in null` (`in`: comma-separated or `q[f_in][]=` "
            "repeated; `null`: true or false), on the fields listed per endpoint; "
            f"`q[sort]=<field> asc|desc`. At most {filters.MAX_CONDITIONS} conditions; an "
            "unknown field or predicate is a 400 naming it. A bare `q=...` is no filter and "
            "is ignored."
        ),
        "schema": {
            "anyOf": [
                {"type": "object", "additionalProperties": {"type": "string"}},
                {"type": "string"},
            ]
        },
    },
    "id": {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}},
    "near": {
        "name": "near",
        "in": "query",
        "description": "`<latitude>,<longitude>`: nearest first; devices without a location "
        "are left out.",
        "schema": {"type": "string"},
    },
    "within": {
        "name": "within",
        "in": "query",
        "description": "With `near`: only devices within this many km.",
        "schema": {"type": "number", "exclusiveMinimum": 0},
    },
    "with_tags": {
        "name": "with_tags",
        "in": "query",
        "description": "`a|b`: devices with any of these user or system tags (`indoor`, "
        "`outdoor`, `online`, `offline`, `new`).",
        "schema": {"type": "string"},
    },
    "search_text": {
        "name": "q",
        "in": "query",
        "required": True,
        "description": "The text to look for (at most 100 characters).",
        "schema": {"type": "string", "minLength": 1, "maxLength": 100},
    },
}


def _params(*names: str) -> list[Schema]:
    return [{"$ref": f"#/components/parameters/{name}"} for name in names]


def _errors(*names: str) -> dict[str, Schema]:
    status = {
        "BadRequest": "400",
        "Unauthorized": "401",
        "Forbidden": "403",
        "NotFound": "404",
        "NotAcceptable": "406",
        "PayloadTooLarge": "413",
        "UnsupportedMediaType": "415",
        "Unprocessable": "422",
        "TooManyRequests": "429",
        "Unavailable": "503",
    }
    return {status[name]: {"$ref": f"#/components/responses/{name}"} for name in names}


def _read(
    operation_id: str,
    summary: str,
    schema: Schema,
    *,
    params: tuple[str, ...] = (),
    errors: tuple[str, ...] = ("BadRequest", "NotAcceptable", "Unavailable"),
    headers: dict[str, Schema] | None = None,
    extra: dict[str, Schema] | None = None,
    tag: str,
    description: str = "",
) -> Schema:
    """A query-service GET: JSON (or JSON-P), `pretty` and `callback`, the version check."""
    ok: Schema = {
        "description": "OK",
        "content": {
            **_json(schema),
            "application/javascript": {"schema": {"type": "string"}},
        },
    }
    if headers:
        ok["headers"] = headers
    operation: Schema = {
        "operationId": operation_id,
        "summary": summary,
        "tags": [tag],
        "parameters": [*_params(*params), *_params("pretty", "callback")],
        "responses": {"200": ok, **(extra or {}), **_errors(*errors)},
    }
    if description:
        operation["description"] = description
    return operation


def _query(name: str, description: str, **schema: Any) -> Schema:
    return {
        "name": name,
        "in": "query",
        "description": description,
        "schema": {"type": "string", **schema} if "enum" not in schema else schema,
    }


_ROLLUP = r"^[0-9]+(y|M|w|d|h|m|s|ms)$"
_FUNCTIONS = ("avg", "max", "min", "sum", "count", "dev", "first", "last")
_BOOLS = ["true", "false"]
_FORMATS = ["json", "csv", "ndjson"]


def _fields(names: str) -> str:
    return f"Filterable and sortable fields: `{'`, `'.join(names.split())}`."


_PAGE_HEADERS: dict[str, Schema] = {
    "Total": {"schema": {"type": "string", "pattern": "^[0-9]+$"}, "required": True},
    "Per-Page": {"schema": {"type": "string", "pattern": "^[0-9]+$"}, "required": True},
    "Link": {
        "description": "RFC 8288 links: first, prev, next, last, where there are such pages.",
        "schema": {"type": "string"},
    },
}
_LIST = ("page", "per_page", "q")
_CACHE_HEADERS: dict[str, Schema] = {
    "ETag": {
        "description": "Not with `pretty` or `callback`, whose answers are not the snapshot's.",
        "schema": {"type": "string"},
    },
    "Last-Modified": {"schema": {"type": "string"}, "required": True},
}
_NOT_MODIFIED = {"304": {"description": "Not modified since the ETag sent in If-None-Match."}}


def _list_of(name: str) -> Schema:
    return {"type": "array", "items": ref(name)}


def _legacy_add(method: str) -> Schema:
    return {
        "operationId": f"legacyAdd{method.capitalize()}",
        "summary": "SCK 1.x readings in headers, answered with the clock",
        "tags": ["Ingest"],
        "description": (
            "The device is found by `X-SmartCitizenMacADDR`; `X-SmartCitizenData` is a JSON "
            "array of objects of `<key>: value` with a `timestamp`. As on SmartCitizen, a "
            "malformed post or an unknown MAC is logged and answered with the clock all the "
            "same; a post that could not be staged is a 503. Also at `/add`."
        ),
        "parameters": [
            {"name": "X-SmartCitizenMacADDR", "in": "header", "schema": STR},
            {"name": "X-SmartCitizenVersion", "in": "header", "schema": STR},
            {"name": "X-SmartCitizenData", "in": "header", "schema": STR},
        ],
        "responses": {
            "200": {"description": "The clock", "content": _json(ref("Clock"))},
            **_errors("Unavailable"),
        },
    }


PATHS: dict[str, Schema] = {
    "/": {
        "get": _read(
            "getIndex",
            "The endpoint categories (also at /v0 and /v0/)",
            ref("Index"),
            errors=("BadRequest", "NotAcceptable"),
            tag="Index",
        )
    },
    "/openapi.json": {
        "get": _read(
            "getOpenApi",
            "This document",
            {"type": "object", "required": ["openapi", "paths"]},
            errors=("BadRequest", "NotAcceptable"),
            tag="Index",
        )
    },
    "/v0/devices": {
        "get": _read(
            "listDevices",
            "Device documents, paginated",
            _list_of("Device"),
            params=(*_LIST, "near", "within", "with_tags"),
            errors=("BadRequest", "Unauthorized", "NotAcceptable", "Unavailable"),
            headers=_PAGE_HEADERS,
            tag="Devices",
            description=(
                "Private devices are listed only for their owner and admins; test devices "
                "only for test API keys, which see no live device. Others see coordinates "
                "rounded to about 100 m unless the owner allows precision, and `near` measures "
                "distances from the coordinates shown. "
                + _fields(
                    "id uuid name description owner_id owner_username kit_id exposure city "
                    "country_code latitude longitude created_at updated_at last_reading_at"
                )
            ),
        )
    },
    "/v0/devices/{id}": {
        "get": _read(
            "getDevice",
            "One device with its sensors and latest readings",
            ref("Device"),
            params=("id",),
            errors=("BadRequest", "Unauthorized", "NotFound", "NotAcceptable", "Unavailable"),
            tag="Devices",
            description=(
                "Answered from what the service keeps in memory, dropped as soon as anything "
                "the document shows changes (within milliseconds of the change's commit; at "
                "once for a change made through the same service). `Cache-Control: no-cache` "
                "reads it from the database."
            ),
        )
    },
    "/v0/devices/{id}/readings": {
        "get": {
            "operationId": "getDeviceReadings",
            "summary": "Readings history, rolled up",
            "tags": ["Readings"],
            "description": (
                "Newest first, timestamps at bucket starts. A sensor the device does not have "
                "gives empty `readings` and `sample_size: 0`. Several sensors "
                "(`sensor_id=12,13`) give one series each."
            ),
            "parameters": [
                *_params("id"),
                _query("sensor_id", "A sensor id, or several separated by commas."),
                _query("sensor_key", "The key the device posts the sensor by, or several."),
                _query("rollup", "`<n><unit>`; required for JSON.", pattern=_ROLLUP),
                _query("function", "Default avg.", enum=list(_FUNCTIONS)),
                _query("from", "ISO 8601 date or datetime, or epoch seconds."),
                _query("to", "ISO 8601 date or datetime, or epoch seconds; default now."),
                _query("relative", "`from` as a span before `to`; default 6 weeks."),
                _query("all_intervals", "`[t, null]` for every empty bucket.", enum=_BOOLS),
                _query("limit", "At most this many buckets, the newest.", pattern="^[0-9]+$"),
                _query("raw", "Uncalibrated values.", enum=_BOOLS),
                _query("tz", "An IANA zone: day and longer buckets start at local midnight."),
                _query("format", "csv and ndjson stream any range.", enum=_FORMATS),
                *_params("pretty", "callback"),
            ],
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {
                        **_json({"oneOf": [ref("ReadingSeries"), ref("ReadingSeriesList")]}),
                        "application/javascript": {"schema": STR},
                        "text/csv": {"schema": STR},
                        "application/x-ndjson": {"schema": STR},
                    },
                },
                **_errors("BadRequest", "Unauthorized", "NotFound", "NotAcceptable", "Unavailable"),
            },
        },
        "post": {
            "operationId": "postDeviceReadings",
            "summary": "Post a batch of readings (ingest gateway)",
            "tags": ["Ingest"],
            "description": (
                "Answered once the batch is durably staged. Bad readings are rejected one by "
                "one with a reason; the body may be gzip (`Content-Encoding: gzip`)."
            ),
            "security": [{"bearer": []}],
            "parameters": _params("id"),
            "requestBody": {"required": True, "content": _json(ref("ReadingsBody"))},
            "responses": {
                "200": {"description": "Staged", "content": _json(ref("ReadingsAccepted"))},
                **_errors(
                    "BadRequest",
                    "Unauthorized",
                    "Forbidden",
                    "NotFound",
                    "PayloadTooLarge",
                    "UnsupportedMediaType",
                ),
                "422": {
                    "description": "No reading of the batch is valid.",
                    "content": _json(ref("NoValidReadings")),
                },
                **_errors("Unavailable"),
            },
        },
    },
    "/v0/devices/world_map": {
        "get": _read(
            "getWorldMap",
            "Every public device with a location that has posted, with latest readings",
            _list_of("WorldMapDevice"),
            errors=("BadRequest", "NotAcceptable", "Unavailable"),
            headers=_CACHE_HEADERS,
            extra=_NOT_MODIFIED,
            tag="Devices",
        )
    },
    "/v0/devices/fresh_world_map": {
        "get": _read(
            "getFreshWorldMap",
            "The world map with the signed-in user's private devices",
            _list_of("WorldMapDevice"),
            errors=("BadRequest", "Unauthorized", "NotAcceptable", "Unavailable"),
            tag="Devices",
            description="Read at the time of the request, never cached; needs a user's token.",
        )
    },
    "/v0/sensors": {
        "get": _read(
            "listSensors",
            "The sensor catalogue",
            _list_of("Sensor"),
            params=_LIST,
            headers=_PAGE_HEADERS,
            errors=("BadRequest", "Unauthorized", "NotAcceptable", "Unavailable"),
            tag="Catalogue",
            description=_fields(
                "id uuid name description parent_id unit default_key measurement_id "
                "created_at updated_at"
            ),
        )
    },
    "/v0/sensors/{id}": {
        "get": _read(
            "getSensor",
            "One sensor",
            ref("Sensor"),
            params=("id",),
            errors=("BadRequest", "Unauthorized", "NotFound", "NotAcceptable", "Unavailable"),
            tag="Catalogue",
        )
    },
    "/v0/kits": {
        "get": _read(
            "listKits",
            "The kits with their sensors",
            _list_of("Kit"),
            params=_LIST,
            headers=_PAGE_HEADERS,
            errors=("BadRequest", "Unauthorized", "NotAcceptable", "Unavailable"),
            tag="Catalogue",
            description=_fields("id uuid name description slug version created_at updated_at"),
        )
    },
    "/v0/kits/{id}": {
        "get": _read(
            "getKit",
            "One kit with its sensors",
            ref("Kit"),
            params=("id",),
            errors=("BadRequest", "Unauthorized", "NotFound", "NotAcceptable", "Unavailable"),
            tag="Catalogue",
        )
    },
    "/v0/measurements": {
        "get": _read(
            "listMeasurements",
            "The measurements",
            _list_of("Measurement"),
            params=_LIST,
            headers=_PAGE_HEADERS,
            errors=("BadRequest", "Unauthorized", "NotAcceptable", "Unavailable"),
            tag="Catalogue",
            description=_fields("id uuid name description unit definition created_at updated_at"),
        )
    },
    "/v0/measurements/{id}": {
        "get": _read(
            "getMeasurement",
            "One measurement",
            ref("Measurement"),
            params=("id",),
            errors=("BadRequest", "Unauthorized", "NotFound", "NotAcceptable", "Unavailable"),
            tag="Catalogue",
        )
    },
    "/v0/search": {
        "get": _read(
            "search",
            "Users and public devices by name, description or city",
            _list_of("SearchResult"),
            params=("search_text", "page", "per_page"),
            headers=_PAGE_HEADERS,
            tag="Index",
        )
    },
    "/v0/add": {method.lower(): _legacy_add(method) for method in ("GET", "POST", "PUT")},
    "/v0/datetime": {
        "get": {
            "operationId": "getClock",
            "summary": "The server's clock for SCK 1.x firmware (also at /datetime)",
            "tags": ["Ingest"],
            "responses": {"200": {"description": "The clock", "content": _json(ref("Clock"))}},
        }
    },
    "/health": {
        "get": {
            "operationId": "getHealth",
            "summary": "Liveness: the process answers",
            "tags": ["Operations"],
            "responses": {"200": {"description": "Alive", "content": _json(ref("Health"))}},
        }
    },
    "/ready": {
        "get": {
            "operationId": "getReady",
            "summary": "Readiness: the database answers (the gateway adds its staging backlog)",
            "tags": ["Operations"],
            "responses": {
                "200": {"description": "Ready", "content": _json(ref("Ready"))},
                **_errors("Unavailable"),
            },
        }
    },
}


def _rate_limited(paths: dict[str, Schema]) -> None:
    """Every operation but health, readiness and this document may answer 429, and its
    successful answers carry the RateLimit-* headers."""
    for path, item in paths.items():
        if path in throttling.UNLIMITED_PATHS:
            continue
        for operation in item.values():
            responses = operation["responses"]
            for status, response in responses.items():
                if status.startswith("2") and "$ref" not in response:
                    response["headers"] = {**response.get("headers", {}), **RATE_LIMIT_HEADERS}
            responses.update(_errors("TooManyRequests"))


def _bad_parameters(paths: dict[str, Schema]) -> None:
    """Every operation that takes `pretty` may answer 400: the query service checks it first."""
    pretty = _params("pretty")[0]
    for item in paths.values():
        for operation in item.values():
            if pretty in operation.get("parameters", []):
                operation["responses"].setdefault("400", _errors("BadRequest")["400"])


def _write(
    operation_id: str,
    summary: str,
    ok: tuple[str, str, Schema],
    *,
    body: str | None,
    errors: tuple[str, ...],
    description: str,
) -> Schema:
    """A device registry operation (query/registry.py), for a signed-in user."""
    status, what, schema = ok
    operation: Schema = {
        "operationId": operation_id,
        "summary": summary,
        "tags": ["Devices"],
        "description": description,
        "security": [{"bearer": []}],
        "parameters": [] if body == "NewDeviceFields" else _params("id"),
        "responses": {status: {"description": what, "content": _json(schema)}, **_errors(*errors)},
    }
    if body is not None:
        form = {"schema": ref(body)}
        operation["requestBody"] = {
            "required": body == "NewDeviceFields",
            "content": {
                **_json(ref(body)),
                "application/x-www-form-urlencoded": form,
                "multipart/form-data": form,
            },
        }
    return operation


_OWNERS_ONLY = (
    " For the owner and admins: anyone else who may see the device gets a 403, anyone who may "
    "not a 404. A test API key acts only on test devices."
)
_GATEWAY_CACHE = (
    " The gateways drop a changed device or token from their caches when the database notifies "
    "them (within INGEST_CACHE_UNWATCHED_TTL_S, 10 s by default, while they are not listening): "
    "the old token may post until then."
)
PATHS["/v0/devices"]["post"] = _write(
    "createDevice",
    "Register a device for the signed-in user",
    ("201", "Created; its token is shown this once", ref("DeviceWithToken")),
    body="NewDeviceFields",
    errors=(
        "BadRequest",
        "Unauthorized",
        "NotAcceptable",
        "PayloadTooLarge",
        "UnsupportedMediaType",
        "Unprocessable",
        "Unavailable",
    ),
    description=(
        "The user becomes the owner; a test API key creates a test device. The answer is the "
        "owner's document with `device_token` in plain (only its hash is kept)."
    ),
)
PATHS["/v0/devices/{id}"]["patch"] = _write(
    "updateDevice",
    "Change a device's writable fields",
    ("200", "The device as changed", ref("Device")),
    body="DeviceFields",
    errors=(
        "BadRequest",
        "Unauthorized",
        "Forbidden",
        "NotFound",
        "NotAcceptable",
        "PayloadTooLarge",
        "UnsupportedMediaType",
        "Unprocessable",
        "Unavailable",
    ),
    description="Only the fields the body names change." + _OWNERS_ONLY,
)
PATHS["/v0/devices/{id}"]["delete"] = _write(
    "deleteDevice",
    "Delete a device",
    ("200", "Deleted: the device as it was", ref("Device")),
    body=None,
    errors=("Unauthorized", "Forbidden", "NotFound", "NotAcceptable", "Unavailable"),
    description=(
        "The device leaves every answer at once and its token stops working; the workers then "
        "purge its readings in the background." + _OWNERS_ONLY + _GATEWAY_CACHE
    ),
)
PATHS["/v0/devices/{id}/token"] = {
    "post": _write(
        "rotateDeviceToken",
        "Give a device a new token",
        ("200", "The device with its new token, shown this once", ref("DeviceWithToken")),
        body=None,
        errors=("Unauthorized", "Forbidden", "NotFound", "NotAcceptable", "Unavailable"),
        description="The previous token stops working." + _OWNERS_ONLY + _GATEWAY_CACHE,
    )
}
# Credentials sent to the public map are checked; a test key gets the map of test devices.
PATHS["/v0/devices/world_map"]["get"]["responses"].update(_errors("Unauthorized"))

PATHS.update(openapi_accounts.PATHS)
_rate_limited(PATHS)
_bad_parameters(PATHS)

DOCUMENT: Schema = {
    "openapi": "3.1.0",
    "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
    "info": {
        "title": "Sensorium API",
        "version": "0",
        "description": (
            "SmartCitizen-compatible sensor readings. Every `/v0/...` path is also served "
            "without the prefix, and `Accept: application/vnd.smartcitizen; version=0` selects "
            "the same version. Every response carries `X-Request-ID`; every error has the "
            "Error shape. Tokens and API keys travel as `Authorization: Bearer <token>` (or "
            "`token <t>`, `Token token=<t>`), in a `key` header, or as `?access_token=` on "
            "GETs; the query service also takes HTTP Basic `username:password`. A credential "
            "that is presented but not live is a 401. The ingest gateway (readings "
            "posts, /v0/add, /v0/datetime) sits behind the same base URL. Requests are rate "
            "limited per credential (per IP when anonymous; readings posts per device) and "
            "answered with RateLimit-* headers; a client over its quota gets a 429 with "
            "Retry-After."
        ),
        "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
    },
    "servers": [{"url": "/"}],
    "security": [{}, {"bearer": []}, {"access_token": []}, {"key": []}, {"basic": []}],
    "tags": [
        {"name": "Index"},
        {"name": "Devices"},
        {"name": "Readings"},
        {"name": "Catalogue"},
        {"name": "Ingest"},
        {"name": "Operations"},
        {"name": "Accounts"},
        {"name": "OAuth"},
    ],
    "paths": PATHS,
    "components": {
        "schemas": {**SCHEMAS, **openapi_accounts.SCHEMAS},
        "responses": {**RESPONSES, **openapi_accounts.RESPONSES},
        "parameters": PARAMETERS,
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "access_token": {"type": "apiKey", "in": "query", "name": "access_token"},
            **openapi_accounts.SECURITY_SCHEMES,
        },
    },
}
DOCUMENT_BYTES = orjson.dumps(DOCUMENT)
