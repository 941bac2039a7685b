"""Binary formats: the staged batch payload, and PostgreSQL's binary COPY stream.

A staged payload is a little-endian uint32 count `n`, then `n` int64 times (microseconds since
the Unix epoch), `n` int32 sensor ids and `n` float64 posted values, so a worker reads a batch as
three numpy views with no parsing. Binary COPY rows are built from column arrays with a numpy
structured dtype, which costs a fraction of what the driver's per-tuple encoding does.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

_COUNT = struct.Struct("<I")
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
COPY_TRAILER = struct.pack("!h", -1)
# Microseconds between the Unix epoch and PostgreSQL's epoch (2000-01-01 UTC).
PG_EPOCH_OFFSET_US = 946_684_800_000_000


class Readings(NamedTuple):
    """Column arrays of readings: times (µs since the Unix epoch), sensor ids, values."""

    times: npt.NDArray[np.int64]
    sensor_ids: npt.NDArray[np.int32]
    values: npt.NDArray[np.float64]


def pack_readings(times: list[int], sensor_ids: list[int], values: list[float]) -> bytes:
    """The staged payload of parallel lists of readings."""
    n = len(times)
    return b"".join(
        (
            _COUNT.pack(n),
            np.asarray(times, dtype="<i8").tobytes(),
            np.asarray(sensor_ids, dtype="<i4").tobytes(),
            np.asarray(values, dtype="<f8").tobytes(),
        )
    )


def unpack_readings(payload: bytes) -> Readings:
    """The readings of a staged payload; raises ValueError if it is truncated or malformed."""
    if len(payload) < _COUNT.size:
        raise ValueError("payload shorter than its header")
    (n,) = _COUNT.unpack_from(payload)
    if len(payload) != _COUNT.size + n * 20:
        raise ValueError(f"payload of {len(payload)} bytes cannot hold {n} readings")
    offset = _COUNT.size
    times = np.frombuffer(payload, dtype="<i8", count=n, offset=offset)
    sensor_ids = np.frombuffer(payload, dtype="<i4", count=n, offset=offset + 8 * n)
    values = np.frombuffer(payload, dtype="<f8", count=n, offset=offset + 12 * n)
    return Readings(times.astype(np.int64), sensor_ids.astype(np.int32), values.astype(np.float64))


def concat(parts: list[Readings]) -> Readings:
    """One Readings of several, in order."""
    if len(parts) == 1:
        return parts[0]
    return Readings(
        np.concatenate([p.times for p in parts]),
        np.concatenate([p.sensor_ids for p in parts]),
        np.concatenate([p.values for p in parts]),
    )


# One readings row: time timestamptz, device_id int8, sensor_id int4, raw_value float8,
# value float8. A NULL float is written with length -1 and no bytes, so rows with NULLs use
# narrower layouts; COPY does not care about row order, so each layout is encoded as a block.
def _layout(raw_null: bool, value_null: bool) -> np.dtype[np.void]:
    fields: list[tuple[str, str]] = [
        ("count", ">i2"),
        ("len_t", ">i4"),
        ("time", ">i8"),
        ("len_d", ">i4"),
        ("device", ">i8"),
        ("len_s", ">i4"),
        ("sensor", ">i4"),
        ("len_r", ">i4"),
    ]
    if not raw_null:
        fields.append(("raw", ">f8"))
    fields.append(("len_v", ">i4"))
    if not value_null:
        fields.append(("value", ">f8"))
    return np.dtype(fields)


def readings_copy_body(
    times: npt.NDArray[np.int64],
    device_ids: npt.NDArray[np.int64],
    sensor_ids: npt.NDArray[np.int32],
    raw_values: npt.NDArray[np.float64],
    values: npt.NDArray[np.float64],
) -> bytes:
    """A binary COPY stream of readings rows; NaN in `raw_values` or `values` is written as NULL."""
    raw_null = np.isnan(raw_values)
    value_null = np.isnan(values)
    blocks = [COPY_HEADER]
    masks: list[tuple[bool, bool, slice | npt.NDArray[np.intp]]]
    if not raw_null.any() and not value_null.any():
        masks = [(False, False, slice(None))]
    else:
        masks = [
            (rn, vn, np.flatnonzero((raw_null == rn) & (value_null == vn)))
            for rn in (False, True)
            for vn in (False, True)
        ]
    for rn, vn, index in masks:
        t = times[index]
        if len(t) == 0:
            continue
        rows = np.empty(len(t), dtype=_layout(rn, vn))
        rows["count"] = 5
        rows["len_t"] = 8
        rows["time"] = t - PG_EPOCH_OFFSET_US
        rows["len_d"] = 8
        rows["device"] = device_ids[index]
        rows["len_s"] = 4
        rows["sensor"] = sensor_ids[index]
        rows["len_r"] = -1 if rn else 8
        if not rn:
            rows["raw"] = raw_values[index]
        rows["len_v"] = -1 if vn else 8
        if not vn:
            rows["value"] = values[index]
        blocks.append(rows.tobytes())
    blocks.append(COPY_TRAILER)
    return b"".join(blocks)


def fixed_width_copy_body(columns: Sequence[tuple[str, npt.ArrayLike]]) -> memoryview:
    """A binary COPY stream of rows whose fields are all fixed-width and never NULL.

    `columns` are, in the table's column order, each field's big-endian numpy type (">i8",
    ">f8", ">u1" for a boolean, ...) and its values, one per row; timestamps must already be
    microseconds since PostgreSQL's epoch. The rows are written in place into the one buffer
    returned (a buffer, not bytes: asyncpg's copy_to_table takes bytes for a file name).
    """
    n = len(np.asarray(columns[0][1])) if columns else 0
    row = np.dtype(
        [("field_count", ">i2")]
        + [
            item
            for index, (kind, _) in enumerate(columns)
            for item in ((f"length_{index}", ">i4"), (f"field_{index}", kind))
        ]
    )
    body = np.empty(len(COPY_HEADER) + n * row.itemsize + len(COPY_TRAILER), dtype=np.uint8)
    body[: len(COPY_HEADER)] = np.frombuffer(COPY_HEADER, dtype=np.uint8)
    body[len(body) - len(COPY_TRAILER) :] = np.frombuffer(COPY_TRAILER, dtype=np.uint8)
    rows = body[len(COPY_HEADER) : len(body) - len(COPY_TRAILER)].view(row)
    rows["field_count"] = len(columns)
    for index, (kind, values) in enumerate(columns):
        rows[f"length_{index}"] = np.dtype(kind).itemsize
        rows[f"field_{index}"] = values
    return body.data


_BATCH_ROW = struct.Struct("!hiqiii")  # field count, device_id (len, int8), n_readings (len, int4)


def batches_copy_body(batches: list[tuple[int, bytes, int]]) -> bytes:
    """A binary COPY stream of ingest_batches rows (device_id, n_readings, payload)."""
    parts = [COPY_HEADER]
    for device_id, payload, n_readings in batches:
        parts.append(_BATCH_ROW.pack(3, 8, device_id, 4, n_readings, len(payload)))
        parts.append(payload)
    parts.append(COPY_TRAILER)
    return b"".join(parts)
