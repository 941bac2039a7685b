"""The gateway's request handlers: readings, legacy SCK 1.x posts, the clock, health."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime

from aiohttp import web

from core import errors, timeparse
from core import web as core_web
from ingest import auth, bodies, gateway, legacy, parsing
from ingest import errors as ingest_errors
from storage import batches, packing
from storage import errors as storage_errors

logger = logging.getLogger(__name__)

_MAX_DEVICE_ID = 2**63 - 1


async def post_readings(request: web.Request) -> web.Response:
    """`POST /v0/devices/{id}/readings`: stage a SmartCitizen batch, answer once committed."""
    gw = request.app[gateway.key]
    device_id = int(request.match_info["device_id"])
    token = auth.token_of(request)
    _check_capacity(gw)
    with _unavailable(gw):
        device = await gw.registry.device(device_id) if device_id <= _MAX_DEVICE_ID else None
        if device is None:
            raise errors.NotFound(f"Device {device_id} not found", code="device_not_found")
        await auth.authorize(device, token, gw.registry)
    body = await bodies.read(request, gw.settings.max_body_bytes)
    batch = parsing.parse_readings(parsing.load_json(body), device.names, _now_us())
    accepted = len(batch.times)
    if accepted:
        await _stage(gw, device_id, batch)
    elif batch.rejected:
        raise errors.Unprocessable(
            f"No valid readings: {len(batch.rejected)} rejected",
            code="no_valid_readings",
            extra={"accepted": 0, "rejected": batch.rejected},
        )
    return core_web.json_response(
        {
            "id": "ok",
            "message": f"{accepted} readings accepted",
            "url": "",
            "errors": "",
            "accepted": accepted,
            "rejected": batch.rejected,
        }
    )


async def legacy_add(request: web.Request) -> web.Response:
    """`/v0/add` for SCK 1.x: stage the readings in the headers, answer the clock string.

    As SmartCitizen did, a malformed post or an unknown MAC address is logged and answered with
    the clock all the same (the firmware only reads the clock). A post that could not be
    staged for want of the database or of room is answered 503: it was not stored.
    """
    gw = request.app[gateway.key]
    try:
        mac = legacy.normalise_mac(request.headers.get(legacy.MAC_HEADER))
        document = legacy.readings_document(request.headers.get(legacy.DATA_HEADER))
    except legacy.LegacyError as exc:
        logger.warning("legacy post ignored: %s", exc, extra={"action": "legacy_rejected"})
        return _clock_response()
    _check_capacity(gw)
    with _unavailable(gw):
        device = await gw.registry.device_by_mac(mac)
    if device is None:
        logger.warning(
            "legacy post from unknown MAC %s ignored",
            mac,
            extra={"action": "legacy_rejected", "mac_address": mac},
        )
        return _clock_response()
    try:
        batch = parsing.parse_readings(document, device.names, _now_us())
    except errors.BadRequest as exc:
        batch = parsing.Batch([], [], [], [{"index": None, "sensor": None, "reason": exc.message}])
    if batch.rejected:
        logger.warning(
            "legacy post from %s: %d readings rejected, first: %s",
            mac,
            len(batch.rejected),
            batch.rejected[0],
            extra={"action": "legacy_rejected", "mac_address": mac},
        )
    if batch.times:
        await _stage(gw, device.record.id, batch)
    return _clock_response()


async def clock(request: web.Request) -> web.Response:
    """`/v0/datetime`: the server's UTC clock in the SCK 1.x format."""
    return _clock_response()


async def health(request: web.Request) -> web.Response:
    """`/health`: the process is alive."""
    return core_web.json_response({"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    """`/ready`: 200 when the database answers, with the staging backlog; 503 otherwise."""
    gw = request.app[gateway.key]
    try:
        async with gw.database.connection() as conn:
            backlog = await batches.backlog(conn)
    except storage_errors.StorageError:
        raise errors.ServiceUnavailable(
            "The database is unreachable", retry_after_s=gw.settings.retry_after_s
        ) from None
    return core_web.json_response(
        {
            "status": "ready",
            "backlog_readings": backlog.readings,
            "pending_readings": gw.stager.pending_readings,
        }
    )


async def _stage(gw: gateway.Gateway, device_id: int, batch: parsing.Batch) -> None:
    payload = packing.pack_readings(batch.times, batch.sensor_ids, batch.values)
    with _unavailable(gw):
        await gw.stager.submit(device_id, payload, len(batch.times))


def _check_capacity(gw: gateway.Gateway) -> None:
    """Refuse work at once while staging or the event loop is over its bounds, before reading
    the body."""
    retry = gw.settings.retry_after_s
    if gw.monitor.overloaded:
        raise errors.ServiceUnavailable(
            "The staging backlog is over its bound; retry later",
            code="backlog_full",
            retry_after_s=retry,
        )
    if gw.stager.full:
        raise errors.ServiceUnavailable(
            "Too many readings are waiting to be staged; retry later",
            code="overloaded",
            retry_after_s=retry,
        )
    if gw.lag.overloaded:
        raise errors.ServiceUnavailable(
            "The gateway is short of CPU and behind with its requests; retry later",
            code="overloaded",
            retry_after_s=retry,
        )


@contextlib.contextmanager
def _unavailable(gw: gateway.Gateway) -> Iterator[None]:
    """Answer 503 with Retry-After when the database or the stager cannot take work now."""
    try:
        yield
    except storage_errors.StorageUnavailable:
        raise errors.ServiceUnavailable(
            "The database is unavailable; retry later",
            code="database_unavailable",
            retry_after_s=gw.settings.retry_after_s,
        ) from None
    except ingest_errors.IngestError as exc:
        code = "overloaded" if isinstance(exc, ingest_errors.Overloaded) else "stopping"
        raise errors.ServiceUnavailable(
            str(exc), code=code, retry_after_s=gw.settings.retry_after_s
        ) from None


def _clock_response() -> web.Response:
    return core_web.json_response(timeparse.format_clock(datetime.now(UTC)))


def _now_us() -> int:
    return time.time_ns() // 1000
