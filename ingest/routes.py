"""The gateway's URLs."""

from __future__ import annotations

from aiohttp import web

from ingest import handlers


def add_routes(app: web.Application) -> None:
    """Register every route of the gateway on `app`."""
    router = app.router
    router.add_post(r"/v0/devices/{device_id:[0-9]+}/readings", handlers.post_readings)
    # SCK 1.x firmware: data in headers, by PUT (1.1), POST or GET, with or without /v0.
    for path in ("/v0/add", "/add"):
        for method in ("GET", "POST", "PUT"):
            router.add_route(method, path, handlers.legacy_add)
    router.add_get("/v0/datetime", handlers.clock)
    router.add_get("/datetime", handlers.clock)
    router.add_get("/health", handlers.health)
    router.add_get("/ready", handlers.ready)
