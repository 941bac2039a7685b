"""HTTP handlers of the query service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp import web

from core import errors
from core import web as core_web
from query import auth, documents, paths, state

routes = web.RouteTableDef()


@routes.get("/v0/devices/{device_id}")
async def get_device(request: web.Request) -> web.Response:
    """One device with its sensors and their latest readings: kept in memory while changes to
    them are followed (query/document_cache.py), read afresh for `Cache-Control: no-cache`."""
    device_id = paths.device_id(request)
    app = request.app
    fresh = "no-cache" in request.headers.get("Cache-Control", "")
    with state.unavailable():
        user = await auth.pooled_user(request, app[state.db_pool])
        found = await app[state.documents].device(app[state.db_pool], device_id, fresh=fresh)
    if found is None or not auth.can_see(user, found.row):
        raise paths.device_not_found(device_id)
    now = datetime.now(UTC)
    if user is None and found.public_body is not None:
        if found.public_until is None or now < found.public_until:
            return web.Response(body=found.public_body, content_type="application/json")
    online_window = timedelta(seconds=app[state.settings].online_window_s)
    document = documents.device_document(
        found.row,
        found.sensors,
        now=now,
        online_window=online_window,
        is_owner=auth.is_owner(user, found.row),
    )
    body = core_web.json_body(document)
    if user is None:
        found.public_body = body
        found.public_until = documents.valid_until(found.row, now, online_window)
    return web.Response(body=body, content_type="application/json")


@routes.get("/health")
async def health(_request: web.Request) -> web.Response:
    """Liveness: the process answers."""
    return core_web.json_response({"status": "ok"})


@routes.get("/ready")
async def ready(request: web.Request) -> web.Response:
    """Readiness: the database answers."""
    try:
        async with request.app[state.db_pool].acquire(timeout=2) as conn:
            await conn.fetchval("SELECT 1")
    except Exception as exc:
        raise errors.ServiceUnavailable("The database is unavailable.") from exc
    return core_web.json_response({"status": "ready"})
