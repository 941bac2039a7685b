"""Bounded gzip decompression."""

from __future__ import annotations

import gzip
import zlib

import pytest

from core import errors
from ingest import bodies


def test_gunzip_returns_the_body():
    assert bodies.gunzip(gzip.compress(b'{"data": []}'), 100) == b'{"data": []}'


def test_gunzip_reads_concatenated_members():
    assert bodies.gunzip(gzip.compress(b"ab") + gzip.compress(b"cd"), 100) == b"abcd"


def test_a_body_of_exactly_the_limit_passes():
    assert bodies.gunzip(gzip.compress(b"x" * 100), 100) == b"x" * 100


def test_a_gzip_bomb_stops_at_the_limit():
    bomb = gzip.compress(bytes(50 * 1024 * 1024), 9)  # 50 MiB of zeros in about 50 KiB
    assert len(bomb) < 100_000
    with pytest.raises(errors.PayloadTooLarge, match="larger than the limit of 1048576 bytes"):
        bodies.gunzip(bomb, 1024 * 1024)


def test_the_limit_counts_every_member():
    with pytest.raises(errors.PayloadTooLarge):
        bodies.gunzip(gzip.compress(b"x" * 60) + gzip.compress(b"y" * 60), 100)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not gzip at all", "The body is not valid gzip"),
        (gzip.compress(b"x" * 1000)[:-12], "The gzip body is truncated"),
        (zlib.compress(b"zlib, not gzip"), "The body is not valid gzip"),
    ],
)
def test_broken_gzip_is_a_bad_request(data, message):
    with pytest.raises(errors.BadRequest, match=message):
        bodies.gunzip(data, 10_000)
