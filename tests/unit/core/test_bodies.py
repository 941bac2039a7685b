"""Bounded decompression of request bodies."""

from __future__ import annotations

import gzip
import zlib

import pytest

from core import bodies, errors


def test_gzip_returns_the_body():
    assert bodies.decompress(gzip.compress(b'{"data": []}'), "gzip", 100) == b'{"data": []}'


def test_gzip_reads_concatenated_members():
    assert bodies.decompress(gzip.compress(b"ab") + gzip.compress(b"cd"), "gzip", 100) == b"abcd"


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS])
def test_deflate_in_zlibs_format_or_raw(wbits):
    compressor = zlib.compressobj(wbits=wbits)
    data = compressor.compress(b"name=ada&password=x" * 3) + compressor.flush()
    assert bodies.decompress(data, "deflate", 100) == b"name=ada&password=x" * 3


@pytest.mark.parametrize("name", ["gzip", "deflate"])
def test_a_body_of_exactly_the_limit_passes(name):
    data = gzip.compress(b"x" * 100) if name == "gzip" else zlib.compress(b"x" * 100)
    assert bodies.decompress(data, name, 100) == b"x" * 100


@pytest.mark.parametrize("name", ["gzip", "deflate"])
def test_a_bomb_stops_at_the_limit(name):
    zeros = bytes(50 * 1024 * 1024)  # 50 MiB of zeros in about 50 KiB
    bomb = gzip.compress(zeros, 9) if name == "gzip" else zlib.compress(zeros, 9)
    assert len(bomb) < 100_000
    with pytest.raises(errors.PayloadTooLarge, match="larger than the limit of 1048576 bytes"):
        bodies.decompress(bomb, name, 1024 * 1024)


def test_the_limit_counts_every_member():
    with pytest.raises(errors.PayloadTooLarge):
        bodies.decompress(gzip.compress(b"x" * 60) + gzip.compress(b"y" * 60), "gzip", 100)


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"not gzip at all", "gzip", "The body is not valid gzip"),
        (gzip.compress(b"x" * 1000)[:-12], "gzip", "The gzip body is truncated"),
        (zlib.compress(b"zlib, not gzip"), "gzip", "The body is not valid gzip"),
        (b"not deflate at all", "deflate", "The body is not valid deflate"),
        (zlib.compress(b"x" * 1000)[:-6], "deflate", "The deflate body is truncated"),
        (zlib.compress(b"one") + zlib.compress(b"two"), "deflate", "data after its end"),
    ],
)
def test_a_body_not_in_its_encoding_is_unreadable(data, name, message):
    with pytest.raises(bodies.Unreadable, match=message):
        bodies.decompress(data, name, 10_000)
