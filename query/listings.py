"""Listing endpoints: devices, sensors, kits, measurements, search, and the index at `/v0`.

Every listing is paginated (query/pagination.py) and filtered ransack-style (query/filters.py).
`/v0/devices` lists the same documents as `/v0/devices/:id`, to the same readers (query/auth.py):
private devices only for their owner or an admin, test devices only for test keys and live
devices only for live credentials; search finds devices by the same rule.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiohttp import web

from core import errors, numbers
from core import web as core_web
from query import (
    auth,
    catalogue,
    conventions,
    documents,
    filters,
    openapi,
    pagination,
    paths,
    search,
    state,
)
from storage import listings
from storage.pool import Connection

routes = web.RouteTableDef()

MAX_TAGS = 20
MAX_TAG_CHARS = 64
_NEAR = re.compile(r"\s*(-?\d{1,3}(?:\.\d{1,12})?)\s*,\s*(-?\d{1,3}(?:\.\d{1,12})?)\s*", re.ASCII)


@routes.get("/v0/devices")
async def list_devices(request: web.Request) -> web.Response:
    """Device documents, by distance from `near` (within `within` km), with any of `with_tags`."""
    page = pagination.requested(request.query)
    criteria = filters.criteria(
        request.query, listings.DEVICE_FIELDS, limit=page.per_page, offset=page.offset
    )
    near = _near(request.query)
    tags = _tags(request.query)
    now = datetime.now(UTC)
    window = timedelta(seconds=request.app[state.settings].online_window_s)
    async with state.connection(request) as conn:
        user = await auth.current_user(request, conn)
        reader = _reader(user)
        tagged = listings.Tagged(tags, now, window) if tags else None
        found = await listings.devices(conn, criteria, reader=reader, tagged=tagged, near=near)
        keys = [(row["id"], row["kit_id"]) for row in found.rows]
        sensors = await listings.device_sensors(conn, keys)
    return _page(
        request,
        page,
        found,
        lambda row: documents.device_document(
            row,
            sensors[row["id"]],
            now=now,
            online_window=window,
            is_owner=auth.is_owner(user, row),
        ),
    )


@routes.get("/v0/sensors")
async def list_sensors(request: web.Request) -> web.Response:
    """The sensor catalogue."""
    return await _listing(
        request, listings.sensors, listings.SENSOR_FIELDS, catalogue.sensor_document
    )


@routes.get("/v0/sensors/{id}")
async def get_sensor(request: web.Request) -> web.Response:
    """One sensor of the catalogue."""
    return await _one(request, "Sensor", listings.sensors, catalogue.sensor_document)


@routes.get("/v0/kits")
async def list_kits(request: web.Request) -> web.Response:
    """The kits, each with its sensors."""
    return await _listing(request, listings.kits, listings.KIT_FIELDS, catalogue.kit_document)


@routes.get("/v0/kits/{id}")
async def get_kit(request: web.Request) -> web.Response:
    """One kit with its sensors."""
    return await _one(request, "Kit", listings.kits, catalogue.kit_document)


@routes.get("/v0/measurements")
async def list_measurements(request: web.Request) -> web.Response:
    """The measurements sensors make."""
    return await _listing(
        request, listings.measurements, listings.MEASUREMENT_FIELDS, catalogue.measurement_document
    )


@routes.get("/v0/measurements/{id}")
async def get_measurement(request: web.Request) -> web.Response:
    """One measurement."""
    return await _one(request, "Measurement", listings.measurements, catalogue.measurement_document)


@routes.get("/v0/search")
async def search_all(request: web.Request) -> web.Response:
    """Users and the devices the reader may see matching `q`."""
    text = search.search_text(request.query)
    page = pagination.requested(request.query)
    async with state.connection(request) as conn:
        reader = _reader(await auth.current_user(request, conn))
        found = await listings.search(
            conn, text, reader=reader, limit=page.per_page, offset=page.offset
        )
    base = conventions.base_url(request)
    return _page(request, page, found, lambda hit: search.result(hit, base))


@routes.get("/v0")
@routes.get("/v0/")
async def index(request: web.Request) -> web.Response:
    """The endpoint categories (also at `/`), pretty-printed as SmartCitizen's root is."""
    base = str(conventions.base_url(request))
    links = {
        "devices_url": "/v0/devices",
        "device_url": "/v0/devices/{id}",
        "readings_url": "/v0/devices/{id}/readings",
        "world_map_url": "/v0/devices/world_map",
        "fresh_world_map_url": "/v0/devices/fresh_world_map",
        "kits_url": "/v0/kits",
        "measurements_url": "/v0/measurements",
        "sensors_url": "/v0/sensors",
        "search_url": "/v0/search?q={query}",
        "users_url": "/v0/users",
        "user_url": "/v0/users/{id_or_username}",
        "me_url": "/v0/me",
        "api_keys_url": "/v0/me/api_keys",
        "sessions_url": "/v0/sessions",
        "oauth_token_url": "/oauth/token",
        "password_resets_url": "/v0/password_resets",
        "datetime_url": "/v0/datetime",
        "openapi_url": "/openapi.json",
    }
    body = orjson.dumps({k: base + v for k, v in links.items()}, option=orjson.OPT_INDENT_2)
    return web.Response(body=body, content_type="application/json")


@routes.get("/v0/openapi.json")
async def openapi_document(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 document of the whole API (also at `/openapi.json`)."""
    return web.Response(body=openapi.DOCUMENT_BYTES, content_type="application/json")


async def _listing(
    request: web.Request,
    fetch: Callable[[Connection, listings.Criteria], Awaitable[listings.Page]],
    fields: Mapping[str, listings.Field],
    document: Callable[[Any], dict[str, Any]],
) -> web.Response:
    page = pagination.requested(request.query)
    criteria = filters.criteria(request.query, fields, limit=page.per_page, offset=page.offset)
    async with state.connection(request) as conn:
        await auth.current_user(request, conn)  # public, but a bad credential is still a 401
        found = await fetch(conn, criteria)
    return _page(request, page, found, document)


async def _one(
    request: web.Request,
    what: str,
    fetch: Callable[[Connection, listings.Criteria], Awaitable[listings.Page]],
    document: Callable[[Any], dict[str, Any]],
) -> web.Response:
    raw = request.match_info["id"]
    if not paths.is_id(raw, 9):
        raise errors.NotFound(f"Couldn't find {what} with 'id'={raw[:40]}", code="not_found")
    criteria = listings.Criteria([listings.Condition("id", "eq", int(raw))], limit=1)
    async with state.connection(request) as conn:
        await auth.current_user(request, conn)  # public, but a bad credential is still a 401
        found = await fetch(conn, criteria)
    if not found.rows:
        raise errors.NotFound(f"Couldn't find {what} with 'id'={raw}", code="not_found")
    return core_web.json_response(document(found.rows[0]))


def _page(
    request: web.Request,
    page: pagination.PageRequest,
    found: listings.Page,
    document: Callable[[Any], dict[str, Any]],
) -> web.Response:
    headers = pagination.headers(conventions.public_url(request), page, found.total)
    return core_web.json_response([document(row) for row in found.rows], headers=headers)


def _reader(user: auth.User | None) -> listings.Reader:
    if user is None:
        return listings.Reader(None, admin=False)
    return listings.Reader(user.id, admin=user.role == "admin", is_test=user.is_test)


def _near(query: Mapping[str, str]) -> listings.Near | None:
    near, within = query.get("near", "").strip(), query.get("within", "").strip()
    if not near:
        if within:
            raise _bad("within", "within (km) needs near=<latitude>,<longitude>")
        return None
    match = _NEAR.fullmatch(near)
    latitude, longitude = (float(g) for g in match.groups()) if match else (math.nan, math.nan)
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise _bad("near", "near must be <latitude>,<longitude> in degrees, e.g. 41.39,2.17")
    if not within:
        return listings.Near(latitude, longitude)
    distance = numbers.parse_float(within)
    if distance is None or not 0 < distance <= 40_075:
        raise _bad("within", "within must be a distance in km, greater than 0")
    return listings.Near(latitude, longitude, distance)


def _tags(query: Mapping[str, str]) -> Sequence[str]:
    tags = [tag.strip() for tag in query.get("with_tags", "").split("|") if tag.strip()]
    if len(tags) > MAX_TAGS or any(len(tag) > MAX_TAG_CHARS or "\x00" in tag for tag in tags):
        raise _bad("with_tags", f"with_tags takes at most {MAX_TAGS} tags separated by |")
    return tags


def _bad(name: str, message: str) -> errors.BadRequest:
    return errors.BadRequest(message, code="invalid_parameter", fields={name: [message]})
