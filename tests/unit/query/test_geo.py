"""Geohashes and public rounding of coordinates."""

from __future__ import annotations

from query import geo


def test_geohash_of_known_points():
    assert geo.geohash(57.64911, 10.40744, 11) == "u4pruydqqvj"
    assert geo.geohash(42.6, -5.6, 5) == "ezs42"


def test_public_coordinates_are_rounded_to_about_100_m():
    assert geo.public_coordinate(41.403629, precise=False) == 41.404
    assert geo.public_coordinate(41.403629, precise=True) == 41.403629
    assert geo.public_coordinate(None, precise=False) is None


def test_public_rounding_is_postgresql_s():
    # 2.1565 is stored just below the half: PostgreSQL's numeric rounding, which listings
    # filter and measure distances by, still rounds it up, away from zero.
    assert geo.public_coordinate(2.1565, precise=False) == 2.157
    assert geo.public_coordinate(-2.2255, precise=False) == -2.226
    assert str(geo.public_coordinate(-0.0004, precise=False)) == "0.0"
