"""The staged payload format and the binary COPY encoding of readings."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from storage import packing


def test_payload_round_trip():
    payload = packing.pack_readings([1, 2, 3], [12, 13, 7], [1.5, -2.0, 1e10])
    readings = packing.unpack_readings(payload)
    assert readings.times.tolist() == [1, 2, 3]
    assert readings.sensor_ids.tolist() == [12, 13, 7]
    assert readings.values.tolist() == [1.5, -2.0, 1e10]


@pytest.mark.parametrize("payload", [b"", b"\x01\x00", packing.pack_readings([1], [2], [3.0])[:-1]])
def test_truncated_payloads_are_refused(payload):
    with pytest.raises(ValueError, match="payload"):
        packing.unpack_readings(payload)


def _decode_copy(body: bytes) -> list[tuple]:
    """A minimal reader of the binary COPY format, to check what we write."""
    assert body.startswith(packing.COPY_HEADER) and body.endswith(packing.COPY_TRAILER)
    offset, rows = len(packing.COPY_HEADER), []
    while True:
        (count,) = struct.unpack_from("!h", body, offset)
        offset += 2
        if count == -1:
            return rows
        fields = []
        for kind in ("q", "q", "i", "d", "d"):
            (length,) = struct.unpack_from("!i", body, offset)
            offset += 4
            if length == -1:
                fields.append(None)
                continue
            fields.append(struct.unpack_from("!" + kind, body, offset)[0])
            offset += length
        rows.append(tuple(fields))


def test_readings_copy_body_encodes_rows_and_nulls():
    body = packing.readings_copy_body(
        np.array([packing.PG_EPOCH_OFFSET_US, packing.PG_EPOCH_OFFSET_US + 5], dtype=np.int64),
        np.array([7, 8], dtype=np.int64),
        np.array([12, 13], dtype=np.int32),
        np.array([1.0, np.nan]),
        np.array([np.nan, 4.0]),
    )
    rows = sorted(_decode_copy(body))
    assert rows == [(0, 7, 12, 1.0, None), (5, 8, 13, None, 4.0)]


def test_batches_copy_body_carries_each_payload():
    payload = packing.pack_readings([1], [12], [2.0])
    body = packing.batches_copy_body([(42, payload, 1)])
    assert body[len(packing.COPY_HEADER) :].startswith(struct.pack("!hiqii", 3, 8, 42, 4, 1))
    assert payload in body
