"""Streaming exports of the readings history: `format=csv` and `format=ndjson`.

Columns, always in this order (the CSV's header row; the keys of each NDJSON object):
- stored readings (no `rollup`): `timestamp, sensor_id, sensor_key, value, raw_value`;
- rolled up: `timestamp, sensor_id, sensor_key, value, count`, where `value` is `function` of
  the bucket (of raw values with `raw=true`) and `count` the readings in it (0 for an empty
  bucket added by `all_intervals=true`, whose value is empty).

Rows come series by series in the order the sensors were asked for, each newest first, with
timestamps as in the JSON response. A blank value is an empty CSV field or a JSON null. A sensor
key nothing has (`sensor_id` unknown) gives no rows. There is no row cap: rows are read through a
server-side cursor and written as they come, so memory stays constant whatever the range. If the
database fails once rows have been sent, the connection is cut before the end of the chunked body,
so a client can tell a truncated export from a complete one.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import orjson
from aiohttp import web

from core import web as core_web
from query import history_params, history_times, rollup
from storage import errors as storage_errors
from storage import history
from storage.pool import Connection

logger = logging.getLogger(__name__)

RAW_COLUMNS = ("timestamp", "sensor_id", "sensor_key", "value", "raw_value")
ROLLUP_COLUMNS = ("timestamp", "sensor_id", "sensor_key", "value", "count")
CONTENT_TYPES = {"csv": "text/csv", "ndjson": "application/x-ndjson"}
BATCH_ROWS = 5000

Row = tuple[Any, ...]


async def stream(
    request: web.Request,
    conn: Connection,
    device_id: int,
    sensors: Sequence[history.SeriesSensor],
    params: history_params.HistoryParams,
) -> tuple[web.StreamResponse, bool]:
    """Write the export of `sensors` as the response to `request`, reading through `conn`.

    Returns the response and whether it is complete. An incomplete one (the database failed once
    rows had gone) must be cut short with `cut_short` once `conn` is released: closing the
    client's connection first may cancel the handler while it releases `conn`.
    """
    columns = RAW_COLUMNS if params.rollup is None else ROLLUP_COLUMNS
    response = web.StreamResponse(
        headers={
            "Content-Disposition": (
                f'attachment; filename="device-{device_id}-readings.{params.format}"'
            ),
            "X-Content-Type-Options": "nosniff",
        }
    )
    if core_web.request_id_key in request:
        # The error middleware sets it too, but only once the headers have gone.
        response.headers["X-Request-ID"] = request[core_web.request_id_key]
    response.content_type = CONTENT_TYPES[params.format]
    response.charset = "utf-8"
    await response.prepare(request)
    if request.method == "HEAD":
        await response.write_eof()
        return response, True
    try:
        if params.format == "csv":
            await response.write(_csv([columns]))
        for sensor in sensors:
            if sensor.sensor_id is None:
                continue
            async with contextlib.aclosing(_rows(conn, device_id, sensor, params)) as batches:
                async for rows in batches:
                    await response.write(_encode(params.format, columns, rows))
    except ConnectionError:
        logger.info(
            "export of device %d: the client went away",
            device_id,
            extra={"action": "export_client_gone", "device_id": device_id},
        )
        return response, True
    # The status line has gone: from here the body can only stay visibly unfinished (cut_short).
    except storage_errors.StorageError:
        logger.warning(
            "export of device %d cut short: the database failed",
            device_id,
            exc_info=True,
            extra={"action": "export_failed", "device_id": device_id},
        )
        return response, False
    except Exception:
        logger.exception(
            "export of device %d failed mid-stream",
            device_id,
            extra={"action": "export_failed", "device_id": device_id},
        )
        return response, False
    await response.write_eof()
    return response, True


def cut_short(request: web.Request) -> None:
    """End an unfinished export: close the connection before the chunked body's last chunk, so
    the client sees a truncated transfer rather than a complete but short export."""
    if request.transport is not None:
        request.transport.close()


async def _rows(
    conn: Connection,
    device_id: int,
    sensor: history.SeriesSensor,
    params: history_params.HistoryParams,
) -> AsyncGenerator[list[Row], None]:
    assert sensor.sensor_id is not None
    sensor_id, key, zone = sensor.sensor_id, sensor.key, params.zone
    if params.rollup is None:
        readings = history.stream_readings(
            conn,
            device_id,
            sensor_id,
            params.start,
            params.end,
            limit=params.limit,
            batch_rows=BATCH_ROWS,
        )
        async with contextlib.aclosing(readings) as batches:
            async for readings_batch in batches:
                yield [
                    (
                        history_times.in_zone(r.time, zone),
                        sensor_id,
                        key,
                        r.value,
                        r.raw_value,
                    )
                    for r in readings_batch
                ]
        return
    query = rollup.bucket_query(
        device_id,
        sensor_id,
        rollup=params.rollup,
        zone=params.bucket_zone,
        start=params.start,
        end=params.end,
        raw=params.raw,
        fill=params.all_intervals,
        limit=params.limit,
    )
    function = params.function
    buckets = history.stream_buckets(conn, query, batch_rows=BATCH_ROWS)
    async with contextlib.aclosing(buckets) as bucket_batches:
        async for batch in bucket_batches:
            yield [
                (
                    history_times.in_zone(b.start, zone),
                    sensor_id,
                    key,
                    rollup.evaluate(function, b),
                    b.n or 0,
                )
                for b in batch
            ]


def _encode(fmt: str, columns: tuple[str, ...], rows: list[Row]) -> bytes:
    """Rows whose first field is an aware datetime, as CSV lines or NDJSON objects."""
    if fmt == "csv":
        return _csv([(stamp, *row[1:]) for stamp, row in zip(_stamps(rows), rows, strict=True)])
    # orjson writes datetimes as history_times.format_moment documents.
    return b"".join(
        orjson.dumps(dict(zip(columns, row, strict=True)), option=orjson.OPT_UTC_Z) + b"\n"
        for row in rows
    )


def _stamps(rows: list[Row]) -> list[str]:
    """The rows' timestamps (history_times.format_moment), formatted by orjson in one call: a
    fifth of the cost of formatting each in Python."""
    if not rows:
        return []
    encoded = orjson.dumps([row[0] for row in rows], option=orjson.OPT_UTC_Z)
    return encoded[2:-2].decode().split('","')


def _csv(rows: Sequence[Sequence[Any]]) -> bytes:
    """RFC 4180 lines (CRLF); None is an empty field, floats are written exactly (repr)."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode()
