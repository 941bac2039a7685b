"""`GET /v0/devices/:id/readings`: a device's readings history, rolled up, as JSON or a stream.

Parameters (query/history_params.py): `sensor_id` or `sensor_key` (one, or several as `12,13`),
`rollup` (`<n><unit>`, units `y M w d h m s ms`), `function` (`avg max min sum count dev first
last`, default `avg`), `from` / `to` (ISO 8601 date or datetime, or epoch seconds; the range is
[from, to), `to` defaults to now and `from` to `relative` before it, 6 weeks by default), `tz`
(IANA zone), `all_intervals`, `limit`, `raw`, `format` (`json`, `csv`, `ndjson`). With `tz`, a
date means local midnight and a datetime without an offset local time; without it, UTC.

One sensor answers

    {"device_id": 1, "sensor_key": "temp", "sensor_id": 55, "component_id": 3,
     "rollup": "1d", "function": "avg", "from": "2024-03-01T00:00:00Z",
     "to": "2024-04-01T00:00:00Z", "sample_size": 43200,
     "readings": [["2024-03-31T00:00:00Z", 21.5], ...]}

with buckets newest first, each at its start; `sample_size` is the number of readings aggregated
into the buckets returned. Several sensors (`sensor_id=55,56`) answer
`{"device_id": 1, "series": [<one object as above per sensor, in the order asked>]}`. Without
`tz`, timestamps (bucket starts, `from`, `to`) are UTC with `Z`; with it, local ISO 8601 with
that moment's offset (`2024-03-31T00:00:00+01:00`, then `2024-04-01T00:00:00+02:00`), `Z` where
the offset is zero. A timestamp has microseconds only when it is not a whole second (`ms`
rollups, a default `to`). Day, week, month and year buckets start at local midnight in `tz`;
hour, minute, second and millisecond buckets are absolute (query/rollup.py).

A sensor the device does not have, or a key nothing has, gives empty `readings` and
`sample_size` 0 (`sensor_id` null for an unknown key). `all_intervals=true` adds `[t, null]` for
each empty bucket, for ranges of at most MAX_READINGS buckets. A JSON answer holds at most
MAX_READINGS buckets per series; beyond that, a 400 asks for a larger rollup, a shorter range,
`limit`, or an export. Exports (query/export.py) have no cap and make `rollup` optional (without
it they stream the stored readings). Private devices are visible only to their owner or an admin,
test devices only to test keys and live ones only to live credentials (404 for anyone else,
query/auth.py); a deleted device has no history.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from core import errors
from core import web as core_web
from query import auth, export, history_params, history_times, paths, rollup, state
from storage import history
from storage.pool import Connection

MAX_READINGS = 100_000
MAX_EXPORT_INTERVALS = 10_000_000

routes = web.RouteTableDef()


@routes.get("/v0/devices/{device_id}/readings")
async def get_readings(request: web.Request) -> web.StreamResponse:
    """A device's readings history: JSON, or a CSV / NDJSON stream."""
    device_id = paths.device_id(request)
    params = history_params.parse(request.query, datetime.now(UTC))
    _check_intervals(params)
    with state.unavailable():
        if params.format != "json":
            return await _export(request, device_id, params)
        async with request.app[state.db_pool].acquire() as conn:
            device, sensors = await _readable_series(request, conn, device_id, params)
            series = [await _series(conn, device.id, sensor, params) for sensor in sensors]
    if params.several:
        return core_web.json_response(
            {"device_id": device.id, "series": series}, fractional_seconds=True
        )
    return core_web.json_response(series[0], fractional_seconds=True)


async def _export(
    request: web.Request, device_id: int, params: history_params.HistoryParams
) -> web.StreamResponse:
    async with request.app[state.db_pool].acquire() as conn:
        device, sensors = await _readable_series(request, conn, device_id, params)
        response, complete = await export.stream(request, conn, device.id, sensors, params)
    if not complete:
        export.cut_short(request)
    return response


def _check_intervals(params: history_params.HistoryParams) -> None:
    if not params.all_intervals or params.rollup is None:
        return
    cap = MAX_READINGS if params.format == "json" else MAX_EXPORT_INTERVALS
    estimate = rollup.estimated_buckets(params.rollup, params.start, params.end)
    if estimate > cap:
        message = (
            f"[from, to) holds up to {estimate} buckets of {params.rollup}; all_intervals allows "
            f"at most {cap}: use a larger rollup or a shorter range"
        )
        raise errors.BadRequest(
            message, code="invalid_parameter", fields={"all_intervals": [message]}
        )


async def _readable_series(
    request: web.Request,
    conn: Connection,
    device_id: int,
    params: history_params.HistoryParams,
) -> tuple[history.HistoryDevice, list[history.SeriesSensor]]:
    """The device, if the requester may read it, and the sensors `params` ask for."""
    user = await auth.current_user(request, conn)
    found = await history.device_sensors(
        conn, device_id, sensor_ids=params.sensor_ids, keys=params.sensor_keys
    )
    if found is None or not auth.can_see(user, found[0]._asdict()):
        raise paths.device_not_found(device_id)
    return found


async def _series(
    conn: Connection,
    device_id: int,
    sensor: history.SeriesSensor,
    params: history_params.HistoryParams,
) -> dict[str, Any]:
    span = params.rollup
    assert span is not None
    zone, function = params.zone, params.function
    starts: Sequence[datetime | str] = []
    values: list[float | int | None] = []
    sample_size = 0
    if sensor.sensor_id is not None:
        query = rollup.bucket_query(
            device_id,
            sensor.sensor_id,
            rollup=span,
            zone=params.bucket_zone,
            start=params.start,
            end=params.end,
            raw=params.raw,
            fill=params.all_intervals,
            limit=min(params.limit or MAX_READINGS + 1, MAX_READINGS + 1),
        )
        if function in history.VALUE_FUNCTIONS:
            micros, found, sample_size = await history.bucket_values(conn, query, function)
            starts, values = history_times.moments(micros, zone), list(found)
        else:
            buckets = await history.buckets(conn, query)
            # asyncpg gives UTC datetimes, as in_zone would without a zone.
            starts = (
                [history_times.in_zone(b.start, zone) for b in buckets]
                if zone is not None
                else [b.start for b in buckets]
            )
            values = [rollup.evaluate(function, b) for b in buckets]
            sample_size = sum(b.n or 0 for b in buckets)
    if len(starts) > MAX_READINGS:
        message = (
            f"more than {MAX_READINGS} buckets of {span} in [from, to): use a larger rollup, "
            "a shorter range, limit, or format=csv or ndjson"
        )
        raise errors.BadRequest(message, code="invalid_parameter", fields={"rollup": [message]})
    return {
        "device_id": device_id,
        "sensor_key": sensor.key,
        "sensor_id": sensor.sensor_id,
        "component_id": sensor.component_id,
        "rollup": str(span),
        "function": function,
        # Datetimes, which orjson writes as history_times.format_moment documents; the bucket
        # starts are such datetimes, or already that text.
        "from": history_times.in_zone(params.start, zone),
        "to": history_times.in_zone(params.end, zone),
        "sample_size": sample_size,
        # Pairs as tuples, which orjson writes as arrays.
        "readings": list(zip(starts, values, strict=True)),
    }
